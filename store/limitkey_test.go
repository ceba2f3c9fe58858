package store

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestKeyOf(t *testing.T) {
	args := json.RawMessage(`{"customer_id": "acme", "n": 42, "f": 1.50, "ok": true, "nil": null,
		"obj": {"id": "inner"}, "arr": [1], "long": "` + strings.Repeat("x", MaxLimitKey+10) + `"}`)
	tests := []struct {
		key, want string
	}{
		{"", DefaultLimitKey},
		{"kind", "email"},
		{"queue", "mail"},
		{"args.customer_id", "acme"},
		{"args.n", "42"},
		{"args.f", "1.50"},
		{"args.ok", "true"},
		{"args.nil", DefaultLimitKey},
		{"args.obj", DefaultLimitKey},
		{"args.arr", DefaultLimitKey},
		{"args.obj.id", "inner"},
		{"args.missing", DefaultLimitKey},
		{"args.customer_id.deeper", DefaultLimitKey},
		{"args.long", strings.Repeat("x", MaxLimitKey)},
	}
	for _, tt := range tests {
		if got := (Limits{Key: tt.key}).KeyOf("email", "mail", args); got != tt.want {
			t.Errorf("KeyOf(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
	if got := (Limits{Key: "args.a"}).KeyOf("k", "q", json.RawMessage(`not json`)); got != DefaultLimitKey {
		t.Errorf("KeyOf of bad args = %q, want the default key", got)
	}
}

func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		l     Limits
		field string // "" when valid
	}{
		{Limits{}, ""},
		{Limits{Rate: "5/s", Burst: 3}, ""},
		{Limits{Key: "args.customer_id", PerKeyConcurrency: 2, PerKeyRate: "1/s", PerKeyBurst: 2, Weights: map[string]int{"acme": 3}}, ""},
		{Limits{Key: "kind", PerKeyConcurrency: 1, Order: OrderFIFO}, ""},
		{Limits{Burst: 3}, "Burst"},
		{Limits{Key: "args."}, "Key"},
		{Limits{Key: "customer_id"}, "Key"},
		{Limits{Key: "args.a.b.c.d.e.f.g.h.i"}, "Key"},
		{Limits{PerKeyConcurrency: 2}, "Key"},
		{Limits{Weights: map[string]int{"a": 2}}, "Key"},
		{Limits{Key: "kind", PerKeyConcurrency: -1}, "PerKeyConcurrency"},
		{Limits{Key: "kind", PerKeyRate: "5"}, "PerKeyRate"},
		{Limits{Key: "kind", PerKeyBurst: 2}, "PerKeyBurst"},
		{Limits{Key: "kind", Order: "lifo"}, "Order"},
		{Limits{Key: "kind", Order: OrderFIFO, PerKeyConcurrency: 2}, "PerKeyConcurrency"},
		{Limits{Key: "kind", Weights: map[string]int{"a": 0}}, "Weights"},
		{Limits{Key: "kind", Weights: map[string]int{"a": MaxWeight + 1}}, "Weights"},
	}
	for _, tt := range tests {
		err := tt.l.Validate()
		var fe *FieldError
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%+v: %v, want valid", tt.l, err)
		case tt.field != "" && (!asFieldError(err, &fe) || fe.Field != tt.field):
			t.Errorf("%+v: %v, want an error naming %s", tt.l, err, tt.field)
		}
	}
}

func asFieldError(err error, fe **FieldError) bool {
	e, ok := err.(*FieldError)
	*fe = e
	return ok
}

func TestLimitsEqual(t *testing.T) {
	a := Limits{Key: "kind", Weights: map[string]int{"a": 2}}
	b := Limits{Key: "kind", Weights: map[string]int{"a": 2}}
	if !a.Equal(b) {
		t.Error("equal limits differ")
	}
	b.Weights["a"] = 3
	if a.Equal(b) {
		t.Error("different weights are equal")
	}
}
