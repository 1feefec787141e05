-- The inventory (#21): what each device and user's old identity left, per organization and
-- category (ssh, old-token, local-work, legacy-remote, personal-account, shared-sign-in,
-- pinned-tenant), where it is (`target`: a path, a repository, a store; never a value), and
-- whose (`person`: the UPN in lower case, else the user name; what the people counts count).
-- A report that carries an inventory is the device's whole list at that time: entries in it are
-- open (`closed_at` NULL, `last_seen` moved on), the device's other open entries are closed.
-- So the list found before the switch stays, and after the switch shows what is still open.
CREATE TABLE inventory (
    device_id    TEXT NOT NULL,
    user_name    TEXT NOT NULL,
    organization TEXT NOT NULL,
    category     TEXT NOT NULL,
    target       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    person       TEXT NOT NULL,
    first_seen   BIGINT NOT NULL,
    last_seen    BIGINT NOT NULL,
    closed_at    BIGINT,
    PRIMARY KEY (device_id, user_name, organization, category, target)
);
-- An organization's lists in order (by person) and its counts, read from the index alone.
CREATE INDEX inventory_lists ON inventory
    (organization, category, person, device_id, user_name, target, closed_at);
-- When each device and user's inventory was last taken (the report's finished_at): an older
-- report delivered late from a spool never replaces a newer list.
CREATE TABLE inventory_taken (
    device_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    taken_at  BIGINT NOT NULL,
    PRIMARY KEY (device_id, user_name)
);
