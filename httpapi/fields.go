package httpapi

import "strings"

// jsonNames maps the Go names that a *store.FieldError gives a field (of
// NewJob, gantry.EnqueueOpts or a call's params) to the names the HTTP API
// gives it: the one table between the two.
var jsonNames = map[string]string{
	// A job: JobRequest.
	"Kind": "kind",
	// Queue limits: LimitsRequest.
	"Rate":        "rate",
	"Burst":       "burst",
	"Queue":       "queue",
	"Args":        "args",
	"Priority":    "priority",
	"MaxAttempts": "max_attempts",
	"Timeout":     "timeout",
	"UniqueKey":   "unique_key",
	"DependsOn":   "depends_on",
	"ParentID":    "parent_id",
	"RunAt":       "run_at",
	"Delay":       "delay",
	// The external-worker protocol: LeaseRequest, HeartbeatRequest,
	// CompleteRequest, FailRequest.
	"ID":               "id",
	"LeaseToken":       "lease_token",
	"Max":              "max",
	"LeaseFor":         "lease",
	"Wait":             "wait",
	"Kinds":            "kinds",
	"Extend":           "extend",
	"ExtendBy":         "extend",
	"Progress":         "progress",
	"Progress.Message": "message",
	"Checkpoint":       "checkpoint",
	"Result":           "result",
	"RetryIn":          "retry_in",
	"Error":            "error",
	// Listing jobs: the query of GET /v1/jobs.
	"State":  "state",
	"Cursor": "cursor",
	"Limit":  "limit",
}

// jsonField returns the API's name of the field a FieldError names by its
// Go name, an index such as "[2]" kept; a name the table lacks is returned
// as it is.
func jsonField(goName string) string {
	base, index := goName, ""
	if i := strings.IndexByte(goName, '['); i >= 0 {
		base, index = goName[:i], goName[i:]
	}
	if name, ok := jsonNames[base]; ok {
		return name + index
	}
	return goName
}
