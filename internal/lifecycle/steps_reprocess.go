package lifecycle

import "context"

// reprocess: stop the running job with a savepoint, then start the desired version from the
// snapshot the configuration chose. The savepoint is recorded like an upgrade's (nothing is
// lost: it is the application's newest state) and is the rollback point: a new job that does
// not become healthy gives way to the previous version restored from it.
func (o *machine) reprocess(ctx context.Context, op Operation) error {
	chosen, err := o.p.restoreSource(ctx, o.current, o.desired)
	if err != nil {
		return err
	}
	if o.restoreCheck, err = o.p.restoreCheckOf(ctx, op, chosen, o.current, o.desired); err != nil {
		return err
	}
	o.record.Journal = o.newJournal(op, StateRunning)
	o.record.Journal.RestorePath, o.record.Journal.RestoreSnapshot = chosen.Path, chosen.Name
	if err := o.save(ctx); err != nil {
		return err
	}
	if err := o.takeState(ctx, op); err != nil {
		return err
	}
	return o.deployVerifyRollback(ctx)
}

// keepsReprocessing reports whether the configuration still asks for the reprocess a journal
// names. An interrupted reprocess whose snapshot the configuration no longer names starts
// from the journal's savepoint instead: the newest state, never an older one nobody asks for.
func (o *machine) keepsReprocessing() bool {
	j, d := o.record.Journal, o.desired
	return j.RestoreSnapshot != "" && d.Restore.Strategy == RestoreSnapshot && d.Restore.SnapshotName == j.RestoreSnapshot
}
