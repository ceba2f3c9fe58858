package gantrytest_test

import (
	"context"
	"fmt"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/gantrytest"
)

type thumbnailArgs struct {
	Width int `json:"width"`
}

func (thumbnailArgs) Kind() string { return "thumbnail" }

// A handler is tested alone: Work runs one attempt and tells what it did.
func ExampleWork() {
	thumbnail := gantry.HandlerFunc[thumbnailArgs](func(ctx context.Context, t *gantry.Task[thumbnailArgs]) error {
		if err := t.Progress(ctx, 50, "resizing"); err != nil {
			return err
		}
		return t.SetResult(map[string]int{"width": t.Args.Width})
	})

	out, err := gantrytest.Work(context.Background(), thumbnail, thumbnailArgs{Width: 256}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(out.State, out.Progress[0].Message, string(out.Result))
	// Output: succeeded resizing {"width":256}
}
