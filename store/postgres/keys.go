package postgres

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gantry-dev/gantry/store"
)

// keyedRefresh is how long a store trusts its set of keyed queues before
// reading it again: a Limits.Key set on another node reaches this one's
// enqueues and claims within it.
const keyedRefresh = time.Second

// keyedCache is the set of queues whose limits have a Key, as last read.
// Enqueues read the limits of those queues only, and claims of other
// queues take the unkeyed path, so unlimited queues pay one map lookup.
type keyedCache struct {
	mu       sync.Mutex
	names    map[string]bool
	readAt   time.Time
	repaired map[string]time.Time // when reactivateKeys last ran, by queue
	// since is when this store first saw each queue keyed: for
	// keyedCatchUp after it, repairs also give the default key to jobs
	// that another store enqueued with a set read before the key was set.
	since map[string]time.Time
}

// keyedCatchUp is how long after a store first sees a queue keyed its
// repairs look for unfinished jobs of the queue without a key: an enqueue
// on another store trusts a set of keyed queues up to keyedRefresh old,
// and commits some time after reading it.
const keyedCatchUp = 30 * time.Second

// keyRepair is how often a store's claims of a keyed queue look for keys
// left idle with available jobs (reactivateKeys).
const keyRepair = 5 * time.Second

// repairDue reports whether the claims of queue should run
// reactivateKeys now, and if so records that they do.
func (s *Store) repairDue(queue string) bool {
	c := &s.keyed
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.repaired == nil {
		c.repaired = map[string]time.Time{}
	}
	if t, ok := c.repaired[queue]; ok && time.Since(t) < keyRepair {
		return false
	}
	c.repaired[queue] = time.Now()
	return true
}

// catchingUp reports whether queue became keyed, as this store saw it,
// less than keyedCatchUp ago.
func (s *Store) catchingUp(queue string) bool {
	c := &s.keyed
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.since[queue]
	return ok && time.Since(t) < keyedCatchUp
}

// keyUnkeyed gives the default key to the unfinished jobs of a keyed
// queue that have none: jobs enqueued with a set of keyed queues read
// before the queue's key was set, which keyed claims would never see.
func (s *Store) keyUnkeyed(ctx context.Context, db dbtx, queue string) error {
	_, err := db.Exec(ctx, s.q.sql(`UPDATE {jobs} SET limit_key = '' WHERE queue = $1 AND limit_key IS NULL
		AND state IN ('waiting', 'scheduled', 'available', 'running', 'retrying')`), queue)
	return err
}

// keyedQueues returns the queues whose limits have a Key, read again
// through db when the set is older than keyedRefresh. db is the caller's
// connection or transaction: an enqueue's transaction holds a connection
// of the pool already, and taking a second one while every enqueue does
// would exhaust the pool. The read runs outside the mutex.
func (s *Store) keyedQueues(ctx context.Context, db dbtx) (map[string]bool, error) {
	c := &s.keyed
	c.mu.Lock()
	names, readAt := c.names, c.readAt
	c.mu.Unlock()
	if names != nil && time.Since(readAt) < keyedRefresh {
		return names, nil
	}
	started := time.Now()
	rows, err := db.Query(ctx, `SELECT name FROM `+s.q.queues+` WHERE limits ? 'key'`)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	names = make(map[string]bool, len(list))
	for _, n := range list {
		names[n] = true
	}
	c.mu.Lock()
	if c.readAt.Before(started) { // not forgotten since the read began
		c.names, c.readAt = names, started
	}
	if c.since == nil {
		c.since = map[string]time.Time{}
	}
	for n := range names {
		if _, ok := c.since[n]; !ok {
			c.since[n] = started
		}
	}
	for n := range c.since {
		if !names[n] {
			delete(c.since, n)
		}
	}
	c.mu.Unlock()
	return names, nil
}

// forgetKeyed makes the next keyedQueues read the set again, and drops
// the answers of reads that began before.
func (s *Store) forgetKeyed() {
	s.keyed.mu.Lock()
	s.keyed.names, s.keyed.readAt = nil, time.Now()
	s.keyed.mu.Unlock()
}

// keyJobs sets the LimitKey of the jobs of keyed queues, reading those
// queues' limits through db (the enqueue's transaction, when it has one).
func (s *Store) keyJobs(ctx context.Context, db dbtx, jobs []newRow) error {
	keyed, err := s.keyedQueues(ctx, db)
	if err != nil {
		return err
	}
	if len(keyed) == 0 {
		return nil
	}
	var queues []string
	for _, r := range jobs {
		if keyed[r.job.Queue] && !slices.Contains(queues, r.job.Queue) {
			queues = append(queues, r.job.Queue)
		}
	}
	if len(queues) == 0 {
		return nil
	}
	rows, err := db.Query(ctx, `SELECT name, limits FROM `+s.q.queues+` WHERE name = ANY($1) AND limits ? 'key'`, queues)
	if err != nil {
		return err
	}
	byQueue := map[string]store.Limits{}
	var name string
	var raw []byte
	if _, err := pgx.ForEachRow(rows, []any{&name, &raw}, func() error {
		var l store.Limits
		if err := json.Unmarshal(raw, &l); err != nil {
			return err
		}
		byQueue[name] = l
		return nil
	}); err != nil {
		return err
	}
	for i := range jobs {
		if l, ok := byQueue[jobs[i].job.Queue]; ok {
			j := jobs[i].job
			j.LimitKey = l.KeyOf(j.Kind, j.Queue, j.Args)
			jobs[i].keyed = true
		}
	}
	return nil
}

// keyWindow is how many keys a keyed claim reads at a time, by pass: the
// claim reads further windows while keys at their limits leave it short.
const (
	keyWindowExtra = 16
	maxKeyWindows  = 8
)

// keyedSettings, after claimSettings in a keyed claim's transaction,
// leaves the planner index probes only: every step of a keyed claim is a
// bounded probe of an index by key (the key table by pass, then each key's
// jobs), which a schema whose statistics predate its keys would otherwise
// plan as scans of the whole key table or of the queue's backlog
// (jobs_claim_idx filtered by key). JIT compilation, which the costs of
// the disabled plans would trigger, is off too.
const keyedSettings = `SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
	set_config('enable_material', 'off', true), set_config('jit', 'off', true)`

// keyRow is one key a keyed claim considered.
type keyRow struct {
	key        string
	pass       float64
	weight     int
	tokens     pgtype.Float8 // refilled to now, when the queue has a per-key rate
	running    pgtype.Int8   // up to PerKeyConcurrency, when it has one
	ids        []string      // its available jobs in claim order, up to the claim's Max
	available  int           // len(ids)
	headID     pgtype.Text   // fifo: the head of the sequence
	headState  pgtype.Text
	headKind   pgtype.Text
	capacity   int  // jobs the key may give the claim
	take       int  // jobs the claim takes from the key (share)
	tokenBound bool // the key's tokens bound its capacity
}

// queueRow is the locked row of a keyed queue.
type queueRow struct {
	paused      bool
	limits      store.Limits
	concurrency int
	perSecond   float64
}

// claimKeyed is Claim for a queue whose limits have a Key: in one
// transaction it locks the queue's row (so claims of the queue from every
// node take turns and PerKeyConcurrency holds globally), promotes due
// jobs, reads the active keys in order of pass (queue_keys_pass_idx) with
// each one's running jobs, tokens and available jobs (all bounded index
// probes), shares the claim out between them as a weighted round robin,
// then leases each key's share on jobs_key_claim_idx. It reports ok false
// when the queue turns out to have no Key: the caller claims as usual.
func (s *Store) claimKeyed(ctx context.Context, p *store.ClaimParams) (*store.ClaimResult, bool, error) {
	res, changes, cs, ok, err := s.claimKeyedTx(ctx, p)
	if err != nil || !ok {
		return nil, ok, err
	}
	// After the claim's connection went back to the pool: dependencies
	// takes one of its own.
	res, err = s.finishClaim(ctx, res, changes, cs)
	return res, err == nil, err
}

// claimKeyedTx is the transaction of claimKeyed, on one connection.
func (s *Store) claimKeyedTx(ctx context.Context, p *store.ClaimParams) (res *store.ClaimResult, changes []store.Change, cs []claimed, ok bool, err error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, nil, false, err
	}
	defer c.Release()
	done := false
	defer func() {
		if !done {
			// A failed claim's transaction is rolled back; if that fails
			// too, the connection is closed on Release.
			_, _ = c.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	now := pgTime(p.Now)
	exclude := p.ExcludeKinds
	if exclude == nil {
		exclude = []string{}
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(claimSettings)
	b.Queue(keyedSettings)
	b.Queue(s.q.sql(`SELECT paused, limits, coalesce(key_concurrency, 0), coalesce(key_per_second, 0)
		FROM {queues} WHERE name = $1 FOR UPDATE`), p.Queue)
	b.Queue(s.q.sql(promoteDue), p.Queue, now, promoteBatch)
	b.Queue(s.q.sql(takeTokens), p.Queue, now)
	b.Queue(s.q.sql(keysSQL), p.Queue, now, p.Kinds, exclude, p.Max, true, 0.0, "", p.Max+keyWindowExtra)
	br := c.SendBatch(ctx, b)
	var q queueRow
	var page []*keyRow
	var raw []byte
	var bk bucket
	err = func() error {
		for range 3 {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		if err := br.QueryRow().Scan(&q.paused, &raw, &q.concurrency, &q.perSecond); err != nil && err != pgx.ErrNoRows {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		if changes, err = scanChanges(rows); err != nil {
			return err
		}
		if bk, err = readBucket(br); err != nil {
			return err
		}
		if rows, err = br.Query(); err != nil {
			return err
		}
		page, err = scanKeys(rows)
		return err
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, nil, false, err
	}
	if raw != nil {
		if err := json.Unmarshal(raw, &q.limits); err != nil {
			return nil, nil, nil, false, err
		}
	}
	if !q.limits.Keyed() {
		s.forgetKeyed()
		return nil, nil, nil, false, nil
	}
	res = &store.ClaimResult{}
	limit := p.Max
	if bk.ok {
		limit = min(limit, int(bk.tokens))
	}
	var keys []*keyRow
	if !q.paused && limit > 0 {
		if keys, err = s.readKeys(ctx, c, p, &q, limit, exclude, page); err != nil {
			return nil, nil, nil, false, err
		}
	}
	total := share(keys, limit)
	if total > 0 || len(keys) > 0 {
		cs, err = s.leaseKeys(ctx, c, p, &q, keys)
	} else {
		_, err = c.Exec(ctx, "COMMIT")
	}
	if err != nil {
		return nil, nil, nil, false, err
	}
	done = true
	res.RateWait = bk.rateWait(p.Max, len(cs))
	if res.RateWait == 0 && len(cs) < p.Max {
		res.RateWait = keyRateWait(keys, q.perSecond)
	}
	if s.repairDue(p.Queue) {
		// The claim has committed: a failed repair waits for the next.
		// It runs on the claim's connection, outside its transaction.
		var err error
		if s.catchingUp(p.Queue) {
			err = s.keyUnkeyed(ctx, c, p.Queue)
		}
		if err == nil {
			err = s.reactivateKeys(ctx, c, p.Queue)
		}
		if err != nil {
			s.log.Warn("postgres: reactivating limit keys", "queue", p.Queue, "err", err)
		}
	}
	return res, changes, cs, true, nil
}

// readKeys reads the active keys of a keyed queue in order of pass, a
// window at a time, until their capacities cover limit jobs. The claim's
// first round trip read the first window, page.
func (s *Store) readKeys(ctx context.Context, c dbtx, p *store.ClaimParams, q *queueRow, limit int, exclude []string, page []*keyRow) ([]*keyRow, error) {
	now := pgTime(p.Now)
	window := p.Max + keyWindowExtra
	var keys []*keyRow
	for i := range maxKeyWindows {
		for _, k := range page {
			capacityOf(k, q, p)
		}
		keys = append(keys, page...)
		if len(page) < window || share(keys, limit) >= limit || i == maxKeyWindows-1 {
			break
		}
		last := page[len(page)-1]
		rows, err := c.Query(ctx, s.q.sql(keysSQL),
			p.Queue, now, p.Kinds, exclude, p.Max, false, last.pass, last.key, window)
		if err != nil {
			return nil, err
		}
		if page, err = scanKeys(rows); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// keysSQL reads a window of the active keys of queue $1 in order of pass
// (from the first, $6, or after ($7, $8)), at most $9, each with its
// weight, tokens refilled to $2, running jobs, the ids of its available
// jobs of the kinds $3 less $4 in claim order (up to $5) and, for a
// sequence, its head.
const keysSQL = `SELECT k.key, k.pass,
				coalesce((q.limits->'weights'->>k.key)::int, 1),
				CASE WHEN q.key_per_second IS NOT NULL THEN least(q.key_burst, coalesce(k.tokens, q.key_burst) +
					q.key_per_second * greatest(0, extract(epoch FROM ($2::timestamptz - coalesce(k.tokens_at, $2::timestamptz))))) END,
				CASE WHEN q.key_concurrency > 0 THEN (SELECT count(*) FROM (SELECT 1 FROM {jobs} r
					WHERE r.queue = $1 AND r.limit_key = k.key AND r.state = 'running' AND r.limit_key IS NOT NULL
					LIMIT q.key_concurrency) x) END,
				(SELECT array_agg(x.id) FROM (SELECT a.id::text FROM {jobs} a
					WHERE a.queue = $1 AND a.limit_key = k.key AND a.state = 'available' AND a.limit_key IS NOT NULL
						AND ($3::text[] IS NULL OR a.kind = ANY($3::text[])) AND NOT (a.kind = ANY($4::text[]))
					ORDER BY a.limit_key, a.priority, a.available_at, a.id LIMIT $5) x),
				h.id::text, h.state, h.kind
			FROM {queues} q JOIN {keys} k ON k.queue = q.name
			LEFT JOIN LATERAL (SELECT id, state, kind FROM {jobs} hj
				WHERE q.limits->>'order' = 'fifo' AND hj.queue = $1 AND hj.limit_key = k.key AND hj.limit_key IS NOT NULL
					AND hj.state IN ('available', 'scheduled', 'retrying', 'running')
				ORDER BY hj.created_at, hj.id LIMIT 1) h ON true
			WHERE q.name = $1 AND k.active AND ($6 OR (k.pass, k.key) > ($7, $8))
			ORDER BY k.pass, k.key LIMIT $9`

// scanKeys reads the rows of keysSQL.
func scanKeys(rows pgx.Rows) ([]*keyRow, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*keyRow, error) {
		k := &keyRow{}
		err := r.Scan(&k.key, &k.pass, &k.weight, &k.tokens, &k.running, &k.ids, &k.headID, &k.headState, &k.headKind)
		k.available = len(k.ids)
		return k, err
	})
}

// capacityOf sets k.capacity to the most jobs the key may give a claim now:
// its available jobs, bounded by its free concurrency and whole tokens;
// for a sequence, its head alone when that is available.
func capacityOf(k *keyRow, q *queueRow, p *store.ClaimParams) {
	n := k.available
	if q.limits.Order == store.OrderFIFO {
		n = 0
		if k.headState.String == string(store.StateAvailable) && kindAllowed(k.headKind.String, p) {
			n = 1
		}
	}
	if q.concurrency > 0 && k.running.Valid {
		n = min(n, max(0, q.concurrency-int(k.running.Int64)))
	}
	if k.tokens.Valid && int(k.tokens.Float64) < n {
		n = int(k.tokens.Float64)
		k.tokenBound = true
	}
	k.capacity = n
}

// kindAllowed reports whether a job of kind passes p's kind filters.
func kindAllowed(kind string, p *store.ClaimParams) bool {
	return (p.Kinds == nil || slices.Contains(p.Kinds, kind)) && !slices.Contains(p.ExcludeKinds, kind)
}

// share turns each key's capacity into its share (take) of a claim of at
// most limit jobs, and returns their sum: the weighted round robin takes
// the next job of the key with the smallest pass, whose pass then grows by
// 1/weight, until limit jobs or no key has capacity left.
func share(keys []*keyRow, limit int) int {
	pass := make([]float64, len(keys))
	for i, k := range keys {
		pass[i], k.take = k.pass, 0
	}
	total := 0
	for total < limit {
		best := -1
		for i, k := range keys {
			if k.take < k.capacity && (best < 0 || pass[i] < pass[best] ||
				(pass[i] == pass[best] && k.key < keys[best].key)) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		keys[best].take++
		pass[best] += 1 / float64(keys[best].weight)
		total++
	}
	return total
}

// leaseKeys leases the shares of the keys, spends the tokens and advances
// the passes of the keys that gave jobs, marks idle the keys left with no
// available job, and commits, in one round trip.
func (s *Store) leaseKeys(ctx context.Context, c *pgxpool.Conn, p *store.ClaimParams, q *queueRow, keys []*keyRow) ([]claimed, error) {
	now := pgTime(p.Now)
	expires := pgTime(now.Add(p.LeaseFor))
	var ids, drained []string
	for _, k := range keys {
		switch {
		case q.limits.Order == store.OrderFIFO && k.take > 0:
			ids = append(ids, k.headID.String)
		case k.take > 0:
			ids = append(ids, k.ids[:k.take]...)
		}
		if k.available <= k.take && p.Kinds == nil && len(p.ExcludeKinds) == 0 {
			drained = append(drained, k.key)
		}
	}
	if ids == nil {
		ids = []string{}
	}
	b := &pgx.Batch{}
	b.Queue(s.q.sql(`WITH pick AS (
			SELECT j.id FROM unnest($2::uuid[]) AS a(id)
			CROSS JOIN LATERAL (SELECT id FROM {jobs} WHERE id = a.id AND state = 'available' FOR UPDATE SKIP LOCKED) j
		), u AS (UPDATE {jobs} j SET state = 'running', attempt = j.attempt + 1, started_at = $3,
				lease_token = (j.attempt + 1)::text || '.' || encode(
					substring(uuid_send(gen_random_uuid()) FROM 1 FOR 6) ||
					substring(uuid_send(gen_random_uuid()) FROM 11 FOR 6), 'hex'),
				lease_expires_at = $4
			FROM pick c
			WHERE j.id = c.id
			RETURNING `+jobColsOf("j")+`, j.available_at, j.has_waits
		), `+claimSpend+`, spent AS (UPDATE {keys} k SET
				pass = k.pass + n.n / coalesce((q.limits->'weights'->>k.key)::int, 1),
				tokens = CASE WHEN q.key_per_second IS NOT NULL THEN least(q.key_burst, coalesce(k.tokens, q.key_burst) +
					q.key_per_second * greatest(0, extract(epoch FROM ($3::timestamptz - coalesce(k.tokens_at, $3::timestamptz))))) - n.n END,
				tokens_at = CASE WHEN q.key_per_second IS NOT NULL THEN greatest(coalesce(k.tokens_at, $3::timestamptz), $3::timestamptz) END
			FROM (SELECT limit_key, count(*)::float8 AS n FROM u GROUP BY limit_key) n, {queues} q
			WHERE q.name = $1 AND k.queue = $1 AND k.key = n.limit_key)
		SELECT * FROM u`),
		p.Queue, ids, now, expires)
	if len(drained) > 0 {
		// A key whose row another transaction holds (a job of it becoming
		// available) stays active.
		b.Queue(s.q.sql(`UPDATE {keys} k SET active = false
			FROM (SELECT key FROM {keys} WHERE queue = $1 AND key = ANY($2) FOR UPDATE SKIP LOCKED) l
			WHERE k.queue = $1 AND k.key = l.key AND NOT EXISTS (SELECT 1 FROM {jobs} a
				WHERE a.queue = $1 AND a.limit_key = k.key AND a.state = 'available' AND a.limit_key IS NOT NULL)`),
			p.Queue, drained)
	}
	b.Queue("COMMIT")
	br := c.SendBatch(ctx, b)
	cs, err := func() ([]claimed, error) {
		rows, err := br.Query()
		if err != nil {
			return nil, err
		}
		cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimed, error) {
			var c claimed
			var err error
			c.job, err = scanJob(r, &c.at, &c.waits)
			return c, err
		})
		if err != nil {
			return nil, err
		}
		for range b.Len() - 1 {
			if _, err := br.Exec(); err != nil {
				return nil, err
			}
		}
		return cs, nil
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return cs, err
}

// keyRateWait is how long until the earliest of the keys that were out of
// tokens has one.
func keyRateWait(keys []*keyRow, perSecond float64) time.Duration {
	var wait time.Duration
	for _, k := range keys {
		if !k.tokenBound || !k.tokens.Valid {
			continue
		}
		w := store.TokenWait(k.tokens.Float64-float64(k.take), perSecond)
		if w > 0 && (wait == 0 || w < wait) {
			wait = w
		}
	}
	return wait
}

// reactivateKeys marks active the keys of a keyed queue that have
// available jobs but were marked idle: a job that became available while
// a claim drained its key. It walks the distinct keys of the available
// jobs on jobs_key_claim_idx (one probe a key).
func (s *Store) reactivateKeys(ctx context.Context, db dbtx, queue string) error {
	_, err := db.Exec(ctx, s.q.sql(`WITH RECURSIVE k(key) AS (
			(SELECT limit_key FROM {jobs} WHERE queue = $1 AND state = 'available' AND limit_key IS NOT NULL
				ORDER BY limit_key LIMIT 1)
			UNION ALL
			SELECT (SELECT limit_key FROM {jobs} WHERE queue = $1 AND state = 'available' AND limit_key IS NOT NULL
				AND limit_key > k.key ORDER BY limit_key LIMIT 1) FROM k WHERE k.key IS NOT NULL)
		INSERT INTO {keys} AS q (queue, key, pass)
			SELECT $1, key, coalesce((SELECT min(pass) FROM {keys} WHERE queue = $1 AND active), 0) FROM k
			WHERE key IS NOT NULL
		ON CONFLICT (queue, key) DO UPDATE SET active = true,
			pass = greatest(q.pass, coalesce((SELECT min(pass) FROM {keys} WHERE queue = $1 AND active), q.pass))
			WHERE NOT q.active`), queue)
	return err
}

// setKeyLimits records the per-key part of l in the queue's row, within
// tx, and gives the key "" to the unfinished jobs of the queue that have
// none (enqueued while the queue had no Key): jobs keep the key they got.
func (s *Store) setKeyLimits(ctx context.Context, tx pgx.Tx, queue string, l store.Limits) error {
	var raw []byte
	var conc pgtype.Int4
	var perSecond pgtype.Float8
	var burst pgtype.Int4
	if !l.Zero() {
		var err error
		if raw, err = json.Marshal(l); err != nil {
			return err
		}
	}
	if l.PerKeyConcurrency > 0 {
		conc = pgtype.Int4{Int32: int32(l.PerKeyConcurrency), Valid: true}
	}
	if ps, b := l.KeyBucket(); ps > 0 {
		perSecond = pgtype.Float8{Float64: ps, Valid: true}
		burst = pgtype.Int4{Int32: int32(b), Valid: true}
	}
	var old []byte
	if err := tx.QueryRow(ctx, `SELECT limits FROM `+s.q.queues+` WHERE name = $1 FOR UPDATE`, queue).Scan(&old); err != nil {
		return err
	}
	var was store.Limits
	if old != nil {
		if err := json.Unmarshal(old, &was); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE `+s.q.queues+` SET limits = $2, key_concurrency = $3, key_per_second = $4, key_burst = $5
		WHERE name = $1`, queue, raw, conc, perSecond, burst); err != nil {
		return err
	}
	if was.PerKeyRate != l.PerKeyRate || was.PerKeyBurst != l.PerKeyBurst {
		if _, err := tx.Exec(ctx, s.q.sql(`UPDATE {keys} SET tokens = NULL, tokens_at = NULL WHERE queue = $1`), queue); err != nil {
			return err
		}
	}
	if l.Keyed() && !was.Keyed() {
		if err := s.keyUnkeyed(ctx, tx, queue); err != nil {
			return err
		}
		return s.reactivateKeys(ctx, tx, queue)
	}
	return nil
}

// LimitStats reports how the limits of a queue hold its jobs back
// (store.LimitStatsStore). Keys and TopKeys cover the queue's active keys
// and the keys with running jobs; the counts are bounded per key, so
// that a report costs O(keys), not O(jobs).
func (s *Store) LimitStats(ctx context.Context, p *store.LimitStatsParams) (*store.LimitStats, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	now := pgTime(p.Now)
	var raw []byte
	var rate pgtype.Text
	var burst pgtype.Int4
	var tokens pgtype.Float8
	err := s.pool.QueryRow(ctx, `SELECT limits, rate, burst,
			CASE WHEN per_second IS NOT NULL THEN least(burst, coalesce(tokens, burst) +
				per_second * greatest(0, extract(epoch FROM ($2::timestamptz - coalesce(tokens_at, $2::timestamptz))))) END
		FROM `+s.q.queues+` WHERE name = $1`, p.Queue, now).Scan(&raw, &rate, &burst, &tokens)
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, s.wrap("limit stats", err)
	}
	l := limitsOf(raw, rate, burst)
	if l == nil {
		return nil, nil
	}
	st := &store.LimitStats{Limits: *l, Tokens: tokens.Float64}
	queueEmpty := tokens.Valid && tokens.Float64 < 1
	if !l.Keyed() {
		if queueEmpty {
			if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+s.q.jobs+` WHERE queue = $1 AND state = 'available'`,
				p.Queue).Scan(&st.Held); err != nil {
				return nil, s.wrap("limit stats", err)
			}
		}
		return st, nil
	}
	const perKeyCap = 1_000_000
	rows, err := s.pool.Query(ctx, s.q.sql(`SELECT k.key,
			(SELECT count(*) FROM (SELECT 1 FROM {jobs} a WHERE a.queue = $1 AND a.limit_key = k.key
				AND a.state = 'available' AND a.limit_key IS NOT NULL LIMIT $3) x),
			(SELECT count(*) FROM (SELECT 1 FROM {jobs} r WHERE r.queue = $1 AND r.limit_key = k.key
				AND r.state = 'running' AND r.limit_key IS NOT NULL LIMIT $3) x),
			CASE WHEN q.key_per_second IS NOT NULL THEN least(q.key_burst, coalesce(k.tokens, q.key_burst) +
				q.key_per_second * greatest(0, extract(epoch FROM ($2::timestamptz - coalesce(k.tokens_at, $2::timestamptz))))) END,
			(SELECT h.state FROM {jobs} h WHERE q.limits->>'order' = 'fifo' AND h.queue = $1 AND h.limit_key = k.key
				AND h.limit_key IS NOT NULL AND h.state IN ('available', 'scheduled', 'retrying', 'running')
				ORDER BY h.created_at, h.id LIMIT 1)
		FROM {queues} q JOIN {keys} k ON k.queue = q.name
		WHERE q.name = $1 AND (k.active OR EXISTS (SELECT 1 FROM {jobs} r WHERE r.queue = $1 AND r.limit_key = k.key
			AND r.state = 'running' AND r.limit_key IS NOT NULL))`), p.Queue, now, perKeyCap)
	if err != nil {
		return nil, s.wrap("limit stats", err)
	}
	var all []store.KeyStats
	var (
		ks                 store.KeyStats
		available, running int
		keyTokens          pgtype.Float8
		head               pgtype.Text
	)
	if _, err := pgx.ForEachRow(rows, []any{&ks.Key, &available, &running, &keyTokens, &head}, func() error {
		if available == 0 && running == 0 {
			return nil
		}
		k := store.KeyStats{Key: ks.Key, Available: available, Running: running, Tokens: keyTokens.Float64}
		k.Held = available > 0 && (queueEmpty ||
			(l.PerKeyConcurrency > 0 && running >= l.PerKeyConcurrency) ||
			(keyTokens.Valid && keyTokens.Float64 < 1) ||
			(l.Order == store.OrderFIFO && head.String != string(store.StateAvailable)))
		if k.Held {
			st.Held += available
		} else if l.Order == store.OrderFIFO && available > 1 {
			st.Held += available - 1
		}
		all = append(all, k)
		return nil
	}); err != nil {
		return nil, s.wrap("limit stats", err)
	}
	st.Keys = len(all)
	slices.SortFunc(all, func(a, b store.KeyStats) int {
		if a.Available != b.Available {
			return b.Available - a.Available
		}
		return strings.Compare(a.Key, b.Key)
	})
	if len(all) > p.MaxKeys {
		all = all[:max(0, p.MaxKeys)]
	}
	if len(all) > 0 {
		st.TopKeys = all
	}
	return st, nil
}
