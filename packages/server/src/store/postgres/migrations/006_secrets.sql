-- Projects' secrets (issue 19): values only as AES-256-GCM ciphertext bound to project and name;
-- key_id names the key that encrypted them, so a rotation finds those still under the old one.
CREATE TABLE secrets (
  project    text COLLATE "C" NOT NULL,
  name       text COLLATE "C" NOT NULL,
  ciphertext text NOT NULL,
  key_id     text NOT NULL,
  created_at text NOT NULL,
  updated_at text NOT NULL,
  PRIMARY KEY (project, name)
);
