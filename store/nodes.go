package store

import (
	"context"
	"time"
)

// Node is one Gantry process working a store, as its last heartbeat
// described it.
type Node struct {
	// ID names the node; it is unique among the nodes of a store (the
	// server uses host@address).
	ID string `json:"id"`
	// StartedAt is when the node started.
	StartedAt time.Time `json:"started_at"`
	// HeartbeatAt is the node's last heartbeat.
	HeartbeatAt time.Time `json:"heartbeat_at"`
	// Workers is how many jobs the node may run at once (its worker
	// slots, over every queue).
	Workers int `json:"workers"`
	// Running is how many jobs it ran at its last heartbeat.
	Running int `json:"running"`
}

// NodesParams are the arguments of Nodes.ListNodes.
type NodesParams struct {
	// Since leaves out the nodes whose last heartbeat is before it (nodes
	// that stopped or died).
	Since time.Time
}

// Nodes is an optional capability of a driver: a register of the nodes
// that work the store, kept by their heartbeats, so that every node can
// tell which serve. Find it with As. A store shared by many processes
// keeps it where they all see it (PostgreSQL: the nodes table); the
// embedded store, one process at a time, keeps its one node in memory.
type Nodes interface {
	// BeatNode records n's heartbeat, adding the node if it is new. It
	// may forget nodes whose last heartbeat is long past.
	BeatNode(ctx context.Context, n *Node) error
	// ListNodes returns the nodes that beat since p.Since, by ID.
	ListNodes(ctx context.Context, p *NodesParams) ([]Node, error)
	// RemoveNode forgets the node called id (a node that stops says so);
	// an unknown id is no error.
	RemoveNode(ctx context.Context, id string) error
}

// NodeRetention is how long a store keeps a node that no longer beats
// before BeatNode may forget it.
const NodeRetention = 24 * time.Hour

// How often a node beats, and how long after its last beat it is no longer
// counted as serving: three missed beats.
const (
	NodeBeatInterval = 5 * time.Second
	NodeTimeout      = 3 * NodeBeatInterval
)
