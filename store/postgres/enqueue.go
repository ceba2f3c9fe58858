package postgres

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gantry-dev/gantry/blob"
	"github.com/gantry-dev/gantry/store"
)

// errRetryTx makes inTx run the transaction again: a race with another
// node that the next attempt resolves.
var errRetryTx = errors.New("postgres: retry transaction")

// maxValuesRows bounds the rows of one multi-row INSERT (PostgreSQL takes
// at most 65535 parameters).
const maxValuesRows = 1000

// insertCols are the columns Enqueue writes, in the order of insertRow.
var insertCols = []string{"id", "kind", "queue", "state", "args", "priority", "attempt", "max_attempts",
	"timeout_ns", "unique_key", "depends_on", "parent_id", "run_at", "available_at", "created_at",
	"finished_at", "cancel_reason", "blob_key", "blob_size", "blob_sha256", "blob_content_type", "pending_deps",
	"workflow_id", "ref", "if_dependency_fails", "has_waits", "trace_parent", "limit_key"}

// Enqueue records new jobs, all or none, in one transaction. A batch
// without unique keys and dependencies is a single INSERT (or COPY, from
// Options.CopyThreshold jobs).
func (s *Store) Enqueue(ctx context.Context, p *store.EnqueueParams) (*store.EnqueueResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	var res *store.EnqueueResult
	simple := p.IdempotencyKey == "" && p.Workflow == nil && p.Parent == nil
	for _, j := range p.Jobs {
		if j != nil && (j.UniqueKey != "" || len(j.DependsOn) > 0 || j.ParentID != "" || j.ID != "") {
			simple = false
			break
		}
	}
	if simple {
		b, err := s.prepareBatch(p)
		if err != nil {
			return nil, err
		}
		if err := s.insertJobs(ctx, s.pool, b.newJobs()); err != nil {
			return nil, s.wrap("enqueue", err)
		}
		res = b.result()
		s.out.add(created(res))
		return res, nil
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		res, err = s.enqueue(ctx, tx, p, true)
		return err
	})
	if err != nil {
		return nil, s.wrap("enqueue", err)
	}
	s.out.add(created(res))
	return res, nil
}

// created returns the changes of the jobs an Enqueue created.
func created(res *store.EnqueueResult) []store.Change {
	if res.Replayed {
		return nil
	}
	out := make([]store.Change, 0, len(res.Jobs))
	for _, e := range res.Jobs {
		if !e.Duplicate {
			out = append(out, change(e.Job))
		}
	}
	return out
}

// EnqueueTx enqueues jobs in the caller's transaction: they exist if and
// only if tx commits, and they are announced to listeners at that commit
// (by a NOTIFY inside tx, which makes its commit wait for other notifying
// commits; Enqueue does not have that cost). tx may come from any pool or
// connection to the store's database; the statements name the store's
// schema. Unique keys are locked until tx ends, so keep the transaction
// short.
func (s *Store) EnqueueTx(ctx context.Context, tx pgx.Tx, p *store.EnqueueParams) (*store.EnqueueResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	res, err := s.enqueue(ctx, tx, p, false)
	if err == nil {
		err = s.notifyInTx(ctx, tx, created(res))
	}
	if err != nil {
		return nil, s.wrap("enqueue", err)
	}
	return res, nil
}

// batch is an Enqueue being prepared: one entry per new job.
type batch struct {
	g       *store.Batch
	parent  string // the job spawning the call's jobs, if any
	wf      *store.NewWorkflow
	now     time.Time
	jobs    []*store.Job // the job to create, or nil for a duplicate
	pending []int        // dependencies of jobs[i] that have not succeeded
	res     []store.Enqueued
}

// newRow is a job to insert with its count of pending dependencies.
type newRow struct {
	job     *store.Job
	pending int
	waits   bool
	keyed   bool // the job's queue has a limit key: LimitKey is its key
}

func (b *batch) newJobs() []newRow {
	out := make([]newRow, 0, len(b.jobs))
	for i, j := range b.jobs {
		if j != nil {
			out = append(out, newRow{j, b.pending[i], b.g != nil && len(b.g.Waits[i]) > 0, false})
		}
	}
	return out
}

func (b *batch) result() *store.EnqueueResult {
	r := &store.EnqueueResult{Jobs: b.res}
	for i := range r.Jobs {
		if r.Jobs[i].Job == nil {
			r.Jobs[i].Job = b.jobs[i]
		}
	}
	// Duplicates within the batch share the first job's record: give each
	// entry its own copy so that callers may change them.
	for i := range r.Jobs {
		c := *r.Jobs[i].Job
		r.Jobs[i].Job = &c
	}
	return r
}

// prepareBatch validates the jobs and builds the records to insert, in the
// state they have when nothing else (dependencies) decides otherwise.
func (s *Store) prepareBatch(p *store.EnqueueParams) (*batch, error) {
	if err := store.CheckIdempotencyExpires(p); err != nil {
		return nil, err
	}
	now := pgTime(p.Now)
	b := &batch{now: now, jobs: make([]*store.Job, len(p.Jobs)), pending: make([]int, len(p.Jobs)),
		res: make([]store.Enqueued, len(p.Jobs)), wf: p.Workflow}
	for i, nj := range p.Jobs {
		if nj == nil {
			return nil, &store.FieldError{Index: i, Field: "", Reason: "must not be null"}
		}
		if err := store.ValidateNewIn(nj, p.Workflow != nil); err != nil {
			var fe *store.FieldError
			if errors.As(err, &fe) {
				c := *fe
				c.Index = i
				return nil, &c
			}
			return nil, err
		}
		if nj.ParentID != "" && len(nj.ParentID) > store.MaxNameLen {
			return nil, &store.FieldError{Index: i, Field: "ParentID", Reason: "is too long"}
		}
		args := slices.Clone(nj.Args)
		if len(args) == 0 {
			args = []byte("{}")
		}
		id := strings.ToLower(nj.ID)
		if id == "" {
			id = store.NewID()
		}
		j := &store.Job{
			ID:          id,
			Kind:        nj.Kind,
			Queue:       nj.Queue,
			Args:        args,
			Blob:        cloneBlob(nj.Blob),
			Priority:    nj.Priority,
			MaxAttempts: nj.MaxAttempts,
			Timeout:     nj.Timeout,
			UniqueKey:   nj.UniqueKey,
			DependsOn:   slices.Clone(nj.DependsOn),
			ParentID:    nj.ParentID,
			RunAt:       pgTime(nj.RunAt),
			CreatedAt:   now,
			Ref:         nj.Ref,

			IfDependencyFails: nj.IfDependencyFails,
			TraceParent:       nj.TraceParent,
		}
		if p.Workflow != nil {
			j.WorkflowID = strings.ToLower(p.Workflow.ID)
		}
		j.State, _ = store.InitialState(j.RunAt, now, nil, nil)
		b.jobs[i] = j
	}
	g, err := store.CheckBatch(p)
	if err != nil {
		return nil, err
	}
	b.g = g
	return b, nil
}

func cloneBlob(b *blob.Info) *blob.Info {
	if b == nil {
		return nil
	}
	c := *b
	return &c
}

// enqueue is Enqueue and EnqueueTx. own says whether tx is the store's
// own (so a lost race may be retried) or the caller's.
func (s *Store) enqueue(ctx context.Context, tx pgx.Tx, p *store.EnqueueParams, own bool) (*store.EnqueueResult, error) {
	if p.IdempotencyKey != "" {
		res, err := s.replay(ctx, tx, p)
		if res != nil || err != nil {
			return res, err
		}
	}
	b, err := s.prepareBatch(p)
	if err != nil {
		return nil, err
	}
	if err := s.dedupe(ctx, tx, b); err != nil {
		return nil, err
	}
	if err := s.checkParent(ctx, tx, b, p); err != nil {
		return nil, err
	}
	if err := s.checkRefs(ctx, tx, b, p); err != nil {
		return nil, err
	}
	if err := s.resolveDeps(ctx, tx, b); err != nil {
		return nil, err
	}
	jobs := b.newJobs()
	if err := s.insertJobs(ctx, tx, jobs); err != nil {
		if own && isUniqueViolation(err) {
			return nil, errRetryTx
		}
		return nil, err
	}
	if err := s.insertDeps(ctx, tx, b); err != nil {
		return nil, err
	}
	res := b.result()
	if p.IdempotencyKey != "" {
		if err := s.recordKey(ctx, tx, p, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// replay returns the jobs of the first call with p's idempotency key, or
// nil when the key is unknown or expired. It locks the key until the
// transaction ends, so a concurrent call with the same key waits for this
// one and then replays it.
func (s *Store) replay(ctx context.Context, tx pgx.Tx, p *store.EnqueueParams) (*store.EnqueueResult, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
		"gantry.idempotency:"+s.opts.Schema+":"+p.IdempotencyKey); err != nil {
		return nil, err
	}
	var (
		hash    string
		ids     []string
		dups    []bool
		expires pgtype.Timestamptz
	)
	err := tx.QueryRow(ctx, `SELECT hash, job_ids::text[], duplicates, expires_at FROM `+s.q.idem+` WHERE key = $1`,
		p.IdempotencyKey).Scan(&hash, &ids, &dups, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := pgTime(p.Now)
	if expires.InfinityModifier == pgtype.Finite && !now.Before(expires.Time) {
		return nil, nil // expired: the call runs anew and replaces the key
	}
	if hash != p.IdempotencyHash {
		return nil, &store.IdempotencyError{Key: p.IdempotencyKey}
	}
	rows, err := tx.Query(ctx, `SELECT `+jobCols+` FROM `+s.q.jobs+` WHERE id = ANY($1::uuid[])`, ids)
	if err != nil {
		return nil, err
	}
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.Job, error) { return scanJob(r) })
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*store.Job, len(jobs))
	for _, j := range jobs {
		byID[j.ID] = forReader(j)
	}
	res := &store.EnqueueResult{Replayed: true}
	for i, id := range ids {
		j := byID[id]
		if j == nil {
			continue // pruned since
		}
		c := *j
		res.Jobs = append(res.Jobs, store.Enqueued{Job: &c, Duplicate: i < len(dups) && dups[i]})
	}
	return res, nil
}

// recordKey records p's idempotency key with the jobs of res.
func (s *Store) recordKey(ctx context.Context, tx pgx.Tx, p *store.EnqueueParams, res *store.EnqueueResult) error {
	ids := make([]string, len(res.Jobs))
	dups := make([]bool, len(res.Jobs))
	for i, e := range res.Jobs {
		ids[i], dups[i] = e.Job.ID, e.Duplicate
	}
	expires := pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}
	if !p.IdempotencyExpires.IsZero() {
		expires = timestamptz(pgTime(p.IdempotencyExpires))
	}
	_, err := tx.Exec(ctx, `INSERT INTO `+s.q.idem+` (key, hash, job_ids, duplicates, expires_at)
		VALUES ($1, $2, $3::uuid[], $4, $5)
		ON CONFLICT (key) DO UPDATE SET hash = EXCLUDED.hash, job_ids = EXCLUDED.job_ids,
			duplicates = EXCLUDED.duplicates, expires_at = EXCLUDED.expires_at`,
		p.IdempotencyKey, p.IdempotencyHash, ids, dups, expires)
	return err
}

// dedupe finds, for each job with a unique key, the non-final job that
// already holds the key, in the database or earlier in the batch. It takes
// a transaction-level advisory lock per key first, so that two nodes
// enqueueing the same key one after the other see each other's job.
func (s *Store) dedupe(ctx context.Context, tx pgx.Tx, b *batch) error {
	var keys []string
	for _, j := range b.jobs {
		if j.UniqueKey != "" {
			keys = append(keys, j.UniqueKey)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	if err := s.lockKeys(ctx, tx, keys); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT `+jobCols+` FROM `+s.q.jobs+`
		WHERE unique_key = ANY($1) AND state IN ('waiting', 'scheduled', 'available', 'running', 'retrying')`, keys)
	if err != nil {
		return err
	}
	existing, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.Job, error) { return scanJob(r) })
	if err != nil {
		return err
	}
	holder := make(map[string]*store.Job, len(keys))
	for _, j := range existing {
		holder[j.UniqueKey] = forReader(j)
	}
	first := make(map[string]int, len(keys)) // key -> index of the batch job that creates it
	for i, j := range b.jobs {
		if j.UniqueKey == "" {
			continue
		}
		if h := holder[j.UniqueKey]; h != nil {
			if b.wf != nil {
				return &store.DuplicateError{Index: i, Key: j.UniqueKey, Existing: h.ID}
			}
			b.res[i] = store.Enqueued{Job: h, Duplicate: true}
			b.jobs[i] = nil
			continue
		}
		if k, ok := first[j.UniqueKey]; ok {
			if b.wf != nil {
				return &store.DuplicateError{Index: i, Key: j.UniqueKey, Existing: b.jobs[k].ID}
			}
			b.res[i] = store.Enqueued{Job: b.jobs[k], Duplicate: true}
			b.jobs[i] = nil
			continue
		}
		first[j.UniqueKey] = i
	}
	return nil
}

// lockKeys takes the advisory locks of unique keys, in a fixed order so
// that two batches never wait for each other in a circle.
func (s *Store) lockKeys(ctx context.Context, tx pgx.Tx, sortedKeys []string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1 || k, 0))
		FROM unnest($2::text[]) WITH ORDINALITY AS u(k, n) ORDER BY n`, "gantry.unique:"+s.opts.Schema+":", sortedKeys)
	return err
}

// checkParent checks that the job that spawns the call's jobs holds its
// lease, marks it as one that waits, and makes them join its workflow. The
// update locks the parent: it cannot finish (and await) before the
// children's edges commit.
func (s *Store) checkParent(ctx context.Context, tx pgx.Tx, b *batch, p *store.EnqueueParams) error {
	if p.Parent == nil {
		return nil
	}
	if !validID(p.Parent.ID) {
		return store.ErrNotFound
	}
	var (
		state string
		token pgtype.Text
		wf    pgtype.Text
	)
	err := tx.QueryRow(ctx, `UPDATE `+s.q.jobs+` SET has_waits = true WHERE id = $1
		RETURNING state, lease_token, workflow_id::text`, p.Parent.ID).Scan(&state, &token, &wf)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	if err := store.CheckLease(&store.Job{State: store.State(state), LeaseToken: token.String}, p.Parent.LeaseToken); err != nil {
		return err
	}
	b.parent = strings.ToLower(p.Parent.ID)
	for _, j := range b.jobs {
		if j != nil && wf.Valid {
			j.WorkflowID = wf.String
		}
	}
	return nil
}

// checkRefs creates the workflow's record, checks that ids the caller
// assigned are free and that parents exist (in the database or the call).
func (s *Store) checkRefs(ctx context.Context, tx pgx.Tx, b *batch, p *store.EnqueueParams) error {
	if w := p.Workflow; w != nil {
		tag, err := tx.Exec(ctx, `INSERT INTO `+s.q.wf+` (id, name, state, created_at) VALUES ($1, $2, 'running', $3)
			ON CONFLICT (id) DO NOTHING`, w.ID, w.Name, b.now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return &store.FieldError{Index: -1, Field: "Workflow.ID", Reason: "is the id of another workflow"}
		}
	}
	var own, parents []string
	for i, nj := range p.Jobs {
		if nj.ID != "" && b.jobs[i] != nil {
			own = append(own, b.jobs[i].ID)
		}
		if nj.ParentID != "" {
			if _, in := b.g.Index[strings.ToLower(nj.ParentID)]; !in {
				if !validID(nj.ParentID) {
					return &store.FieldError{Index: i, Field: "ParentID", Reason: "no job " + nj.ParentID}
				}
				parents = append(parents, strings.ToLower(nj.ParentID))
			}
		}
	}
	found := map[string]bool{}
	if len(own)+len(parents) > 0 {
		rows, err := tx.Query(ctx, `SELECT id::text FROM `+s.q.jobs+` WHERE id = ANY($1::uuid[])`, append(own, parents...))
		if err != nil {
			return err
		}
		var id string
		if _, err := pgx.ForEachRow(rows, []any{&id}, func() error { found[id] = true; return nil }); err != nil {
			return err
		}
	}
	for i, nj := range p.Jobs {
		if nj.ID != "" && b.jobs[i] != nil && found[b.jobs[i].ID] {
			return &store.FieldError{Index: i, Field: "ID", Reason: "is the id of an existing job"}
		}
		if nj.ParentID != "" {
			if _, in := b.g.Index[strings.ToLower(nj.ParentID)]; !in && !found[strings.ToLower(nj.ParentID)] {
				return &store.FieldError{Index: i, Field: "ParentID", Reason: "no job " + nj.ParentID}
			}
		}
	}
	return nil
}

// resolveDeps checks that every job a new job waits for exists (in the
// database or the call) and sets the state of each new job from their
// states, in the batch's order. It locks the stored ones FOR SHARE, so a
// dependency cannot finish between this check and commit without seeing
// the new job's edge.
func (s *Store) resolveDeps(ctx context.Context, tx pgx.Tx, b *batch) error {
	var ids []string
	for i, j := range b.jobs {
		if j == nil {
			continue
		}
		for k, d := range b.g.Waits[i] {
			if _, in := b.g.Index[strings.ToLower(d)]; in {
				continue
			}
			if !validID(d) {
				return unknownDep(i, k, d)
			}
			ids = append(ids, strings.ToLower(d))
		}
	}
	states := make(map[string]store.State, len(ids))
	if len(ids) > 0 {
		slices.Sort(ids)
		ids = slices.Compact(ids)
		rows, err := tx.Query(ctx, `SELECT id::text, state FROM `+s.q.jobs+`
			WHERE id = ANY($1::uuid[]) ORDER BY id FOR SHARE`, ids)
		if err != nil {
			return err
		}
		var id, st string
		if _, err := pgx.ForEachRow(rows, []any{&id, &st}, func() error {
			states[id] = store.State(st)
			return nil
		}); err != nil {
			return err
		}
	}
	for _, i := range b.g.Order {
		j := b.jobs[i]
		waits := b.g.Waits[i]
		if j == nil || len(waits) == 0 {
			continue
		}
		pending := 0
		deps := make([]store.State, len(waits))
		for k, d := range waits {
			if bi, in := b.g.Index[strings.ToLower(d)]; in {
				if b.jobs[bi] == nil {
					return &store.FieldError{Index: i, Field: "DependsOn[" + strconv.Itoa(k) + "]",
						Reason: "names a job of the call that is not created: its unique key is held"}
				}
				deps[k] = b.jobs[bi].State
			} else {
				st, ok := states[strings.ToLower(d)]
				if !ok {
					return unknownDep(i, k, d)
				}
				deps[k] = st
			}
			if j.IfDependencyFails.Pending(deps[k]) {
				pending++
			}
		}
		j.State, j.CancelReason = store.InitialStateFor(j.IfDependencyFails, j.RunAt, b.now, waits, deps)
		if j.State == store.StateCancelled {
			j.FinishedAt = b.now
		}
		b.pending[i] = pending
	}
	return nil
}

func unknownDep(i, k int, id string) error {
	return &store.FieldError{Index: i, Field: "DependsOn[" + strconv.Itoa(k) + "]", Reason: "no job " + id}
}

// insertJobs writes new jobs with one multi-row INSERT per maxValuesRows
// jobs, or one COPY when there are at least Options.CopyThreshold.
func (s *Store) insertJobs(ctx context.Context, db dbtx, jobs []newRow) error {
	if len(jobs) == 0 {
		return nil
	}
	if err := s.keyJobs(ctx, db, jobs); err != nil {
		return err
	}
	if len(jobs) >= s.opts.CopyThreshold {
		rows := make([][]any, len(jobs))
		for i, r := range jobs {
			rows[i] = insertRow(r, true)
		}
		_, err := db.CopyFrom(ctx, pgx.Identifier{s.opts.Schema, "jobs"}, insertCols, pgx.CopyFromRows(rows))
		return err
	}
	for len(jobs) > 0 {
		n := min(len(jobs), maxValuesRows)
		var sb strings.Builder
		sb.WriteString(`INSERT INTO ` + s.q.jobs + ` (` + strings.Join(insertCols, ", ") + `) VALUES `)
		args := make([]any, 0, n*len(insertCols))
		for i, r := range jobs[:n] {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteByte('(')
			for c := range insertCols {
				if c > 0 {
					sb.WriteString(", ")
				}
				sb.WriteString("$" + strconv.Itoa(len(args)+c+1))
			}
			sb.WriteByte(')')
			args = append(args, insertRow(r, false)...)
		}
		if _, err := db.Exec(ctx, sb.String(), args...); err != nil {
			return err
		}
		jobs = jobs[n:]
	}
	return nil
}

// insertRow returns the values of insertCols for j. COPY needs binary
// uuids; the text protocol takes strings.
func insertRow(r newRow, binary bool) []any {
	j, pending := r.job, r.pending
	var id any = j.ID
	var deps any = j.DependsOn
	if binary {
		id = uuid.MustParse(j.ID)
		if j.DependsOn != nil {
			u := make([]uuid.UUID, len(j.DependsOn))
			for i, d := range j.DependsOn {
				u[i] = uuid.MustParse(d)
			}
			deps = u
		}
	}
	availableAt := j.CreatedAt
	if j.State != store.StateAvailable {
		availableAt = j.RunAt
	}
	var blobKey, blobSHA, blobType pgtype.Text
	var blobSize pgtype.Int8
	if j.Blob != nil {
		blobKey = pgtype.Text{String: j.Blob.Key, Valid: true}
		blobSHA = pgtype.Text{String: j.Blob.SHA256, Valid: true}
		blobType = pgtype.Text{String: j.Blob.ContentType, Valid: true}
		blobSize = pgtype.Int8{Int64: j.Blob.Size, Valid: true}
	}
	return []any{id, j.Kind, j.Queue, string(j.State), []byte(j.Args), int16(j.Priority), int32(j.Attempt),
		int32(j.MaxAttempts), int64(j.Timeout), text(j.UniqueKey), deps, text(j.ParentID), j.RunAt,
		availableAt, j.CreatedAt, timestamptz(j.FinishedAt), text(j.CancelReason),
		blobKey, blobSize, blobSHA, blobType, int32(pending),
		uuidText(j.WorkflowID, binary), text(j.Ref), text(string(j.IfDependencyFails)), r.waits,
		text(j.TraceParent), pgtype.Text{String: j.LimitKey, Valid: r.keyed}}
}

// uuidText is a nullable uuid column's value: a uuid.UUID for COPY, text
// otherwise.
func uuidText(id string, binary bool) any {
	if id == "" {
		return nil
	}
	if binary {
		return uuid.MustParse(id)
	}
	return id
}

// insertDeps records the edges of new jobs: each job waits for its
// dependencies and, in a workflow, a parent for its children.
func (s *Store) insertDeps(ctx context.Context, tx pgx.Tx, b *batch) error {
	var from, to []string
	for i, j := range b.jobs {
		if j == nil {
			continue
		}
		for _, d := range b.g.Waits[i] {
			from = append(from, j.ID)
			to = append(to, d)
		}
		if b.parent != "" && strings.EqualFold(j.ParentID, b.parent) {
			from = append(from, b.parent)
			to = append(to, j.ID)
		}
	}
	if len(from) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO `+s.q.deps+` (job_id, depends_on_id)
		SELECT * FROM unnest($1::uuid[], $2::uuid[])`, from, to)
	return err
}

// dbtx is what both a pool and a transaction offer.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error)
}

func text(s string) pgtype.Text { return pgtype.Text{String: s, Valid: s != ""} }

func timestamptz(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}
