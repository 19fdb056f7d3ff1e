-- Projects' secrets (issue 19): values only as AES-256-GCM ciphertext bound to project and name;
-- key_id names the key that encrypted them, so a rotation finds those still under the old one.
CREATE TABLE secrets (
  project    TEXT NOT NULL,
  name       TEXT NOT NULL,
  ciphertext TEXT NOT NULL,
  key_id     TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (project, name)
) WITHOUT ROWID;
