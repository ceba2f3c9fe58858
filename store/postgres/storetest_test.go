package postgres_test

import (
	"testing"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/storetest"
)

func TestConformance(t *testing.T) {
	testURL(t)
	storetest.Run(t, func(t *testing.T) store.Driver { return setup(t, nil) })
}
