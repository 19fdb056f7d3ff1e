-- Due jobs are leased in turns between groups (projects): one group's backlog no longer holds
-- another group's next job back. A job gets a turn once it is due (`turn`, NULL before: waiting
-- for its time, leased, or dead); jobs are leased by turn, and leasing one takes its turn away.
-- Each group's next turn follows its last (`queue_groups`), and never comes before the turn last
-- leased (`queue_clock`): a group that had nothing due joins the rotation where it stands.
ALTER TABLE queue_jobs ADD COLUMN grp TEXT NOT NULL DEFAULT '';
ALTER TABLE queue_jobs ADD COLUMN turn INTEGER;
CREATE INDEX queue_jobs_turns ON queue_jobs (turn, seq) WHERE turn IS NOT NULL;
CREATE INDEX queue_jobs_unturned ON queue_jobs (visible_at, seq) WHERE turn IS NULL AND state <> 'dead';
CREATE TABLE queue_groups (
  grp       TEXT PRIMARY KEY,
  last_turn INTEGER NOT NULL
) WITHOUT ROWID;
-- Groups the clock passed are forgotten at each lease (they start at the clock anyway).
CREATE INDEX queue_groups_by_turn ON queue_groups (last_turn);
CREATE TABLE queue_clock (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  turn INTEGER NOT NULL
);
INSERT INTO queue_clock (id, turn) VALUES (1, 0);
