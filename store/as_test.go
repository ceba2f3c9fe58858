package store_test

import (
	"context"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

// driver stands for a real store: it notifies, elects, and has a method of
// its own. Its Driver methods are never called.
type driver struct {
	store.Driver
	notified bool
}

func (d *driver) Notify(func([]store.Change)) func() { d.notified = true; return func() {} }

func (d *driver) Lead(ctx context.Context) (context.Context, func(), error) {
	return ctx, func() {}, nil
}

func (d *driver) Schema() string { return "gantry" }

// plain is a store without optional capabilities.
type plain struct{ store.Driver }

// logging is a wrapper as a user writes one: it overrides a Driver method
// and gives the wrapped store back with Unwrap, and nothing else.
type logging struct {
	store.Driver
	gets int
}

func (l *logging) Get(ctx context.Context, id string) (*store.Job, error) {
	l.gets++
	return l.Driver.Get(ctx, id)
}

func (l *logging) Unwrap() store.Driver { return l.Driver }

// quiet is a wrapper that implements Notifier itself, to stop
// notifications.
type quiet struct{ store.Driver }

func (quiet) Notify(func([]store.Change)) func() { return func() {} }
func (q quiet) Unwrap() store.Driver             { return q.Driver }

func TestAs(t *testing.T) {
	t.Parallel()
	d := &driver{}
	wrapped := &logging{Driver: &logging{Driver: d}} // two wrappers deep

	n, ok := store.As[store.Notifier](wrapped)
	if !ok {
		t.Fatal("the Notifier behind two wrappers was not found")
	}
	n.Notify(nil)()
	if !d.notified {
		t.Error("Notify did not reach the wrapped store")
	}
	if el, ok := store.As[store.Elector](wrapped); !ok || el != store.Elector(d) {
		t.Errorf("As[Elector] = %v, %v; want the wrapped store", el, ok)
	}
	// An interface of the caller's own is found the same way.
	if s, ok := store.As[interface{ Schema() string }](wrapped); !ok || s.Schema() != "gantry" {
		t.Errorf("As[Schema] = %v, %v", s, ok)
	}

	// The wrapper nearest the caller that implements the capability wins.
	q := &logging{Driver: quiet{d}}
	if n, ok := store.As[store.Notifier](q); !ok || n == store.Notifier(d) {
		t.Errorf("As[Notifier] through an overriding wrapper = %v, %v; want the wrapper", n, ok)
	}

	// Neither a store without the capability nor a wrapper of one, nor
	// nil, has it.
	for _, d := range []store.Driver{plain{}, &logging{Driver: plain{}}, &logging{}, nil} {
		if n, ok := store.As[store.Notifier](d); ok || n != nil {
			t.Errorf("As[Notifier](%#v) = %v, %v; want nil, false", d, n, ok)
		}
	}
}
