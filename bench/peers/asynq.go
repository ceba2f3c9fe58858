package main

import (
	"context"
	"errors"

	"github.com/hibiken/asynq"
)

type asynqQueue struct {
	opt     asynq.RedisClientOpt
	cli     *asynq.Client
	srv     *asynq.Server
	ins     *asynq.Inspector
	handler asynq.Handler
}

// quietLogger drops asynq's log lines; errors still reach the results.
type quietLogger struct{}

func (quietLogger) Debug(...any) {}
func (quietLogger) Info(...any)  {}
func (quietLogger) Warn(...any)  {}
func (quietLogger) Error(...any) {}
func (quietLogger) Fatal(...any) {}

func openAsynq(sp *spec, workers int, h handlerFunc) (*asynqQueue, error) {
	sys, _ := systemByName(sp.System)
	opt := asynq.RedisClientOpt{Addr: sp.Redis, DB: sp.RedisDB}
	cfg := asynq.Config{
		Concurrency: max(workers, 1),
		Logger:      quietLogger{},
		LogLevel:    asynq.FatalLevel,
	}
	if sys.Best {
		cfg.TaskCheckInterval = asynqBestCheck
	}
	q := &asynqQueue{
		opt: opt,
		cli: asynq.NewClient(opt),
		srv: asynq.NewServer(opt, cfg),
		ins: asynq.NewInspector(opt),
		handler: asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
			return h(ctx)
		}),
	}
	return q, nil
}

func (q *asynqQueue) enqueue(ctx context.Context) error {
	_, err := q.cli.EnqueueContext(ctx, asynq.NewTask(jobArgs{}.Kind(), argsJSON))
	return err
}

func (q *asynqQueue) enqueueBatch(context.Context, int) error { return errNoBatch }

// start runs the server; Start, unlike Run, installs no signal handlers.
func (q *asynqQueue) start(context.Context) error { return q.srv.Start(q.handler) }

func (q *asynqQueue) stop(context.Context) error {
	q.srv.Shutdown()
	return nil
}

func (q *asynqQueue) close() error {
	_ = q.ins.Close()
	return q.cli.Close()
}

func (q *asynqQueue) pending(context.Context) (int64, error) {
	qi, err := q.ins.GetQueueInfo("default")
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return int64(qi.Pending + qi.Active + qi.Scheduled + qi.Retry), nil
}
