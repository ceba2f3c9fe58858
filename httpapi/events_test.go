package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/httpapi"
)

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	id, event string
	job       httpapi.JobResource
}

// sseReader parses an event stream.
type sseReader struct {
	t *testing.T
	r *bufio.Reader
}

// next returns the next event, or io.EOF when the stream ended.
func (s *sseReader) next() (sseEvent, error) {
	s.t.Helper()
	var ev sseEvent
	var data string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && line == "" && ev.event == "" {
				return ev, io.EOF
			}
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.event == "" && data == "" {
				continue // the end of a comment
			}
			if err := json.Unmarshal([]byte(data), &ev.job); err != nil {
				s.t.Fatalf("event data does not decode: %v: %s", err, data)
			}
			return ev, nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data += strings.TrimPrefix(line, "data: ")
		default:
			s.t.Fatalf("unexpected line in the event stream: %q", line)
		}
	}
}

func (e *env) openEvents(ctx context.Context, id string) (*http.Response, *sseReader) {
	e.t.Helper()
	r, err := http.NewRequestWithContext(ctx, "GET", e.url+"/v1/jobs/"+id+"/events", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if e.token != "" {
		r.Header.Set("Authorization", "Bearer "+e.token)
	}
	resp, err := e.http.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp, &sseReader{t: e.t, r: bufio.NewReader(resp.Body)}
}

func TestEventsStreamEveryChangeInOrder(t *testing.T) {
	e := setup(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	j := e.enqueue(`{"kind":"k"}`)
	resp, stream := e.openEvents(ctx, j.ID)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	expect := func(id, event string, state gantry.State) *httpapi.JobResource {
		t.Helper()
		ev, err := stream.next()
		if err != nil {
			t.Fatalf("reading event %s: %v", id, err)
		}
		if ev.id != id || ev.event != event || ev.job.State != state || ev.job.ID != j.ID {
			t.Fatalf("event = id %s, %s, state %s; want id %s, %s, state %s", ev.id, ev.event, ev.job.State, id, event, state)
		}
		return &ev.job
	}
	expect("1", "state", gantry.StateAvailable)

	l := e.leaseOne()
	expect("2", "state", gantry.StateRunning)

	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + j.ID + "/heartbeat",
		body: map[string]any{"lease_token": l.LeaseToken, "progress": 50, "message": "half"}})
	if got := expect("3", "progress", gantry.StateRunning); got.Progress == nil || got.Progress.Percent != 50 || got.Progress.Message != "half" {
		t.Errorf("progress event carries %+v", got.Progress)
	}

	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + j.ID + "/complete", body: map[string]any{"lease_token": l.LeaseToken}})
	expect("4", "state", gantry.StateSucceeded)

	if ev, err := stream.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the final state: %+v, %v; want the end of the stream", ev, err)
	}
}

func TestEventsOfAFinalJobEndAtOnce(t *testing.T) {
	e := setup(t, nil)
	j := e.enqueue(`{"kind":"k"}`)
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + j.ID + "/cancel"})
	_, stream := e.openEvents(t.Context(), j.ID)
	ev, err := stream.next()
	if err != nil || ev.event != "state" || ev.job.State != gantry.StateCancelled {
		t.Fatalf("first event = %+v, %v", ev, err)
	}
	if _, err := stream.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("the stream goes on after a final state: %v", err)
	}
}

func TestEventsEndOnDrain(t *testing.T) {
	e := setup(t, nil)
	j := e.enqueue(`{"kind":"k"}`)
	_, stream := e.openEvents(t.Context(), j.ID)
	if _, err := stream.next(); err != nil {
		t.Fatal(err)
	}
	e.api.Drain()
	if _, err := stream.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("the stream goes on after the drain: %v", err)
	}
}
