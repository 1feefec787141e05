-- Expected users are matched by user principal name, e-mail address or account name (the plain
-- part of DOMAIN\user), whichever the admins' upload gives. `upn` stays the row's key: the UPN,
-- else the e-mail address, else the account name, lower case.
ALTER TABLE expected_users ADD COLUMN email TEXT;
ALTER TABLE expected_users ADD COLUMN account TEXT;
-- The readiness query looks devices up by these.
CREATE INDEX devices_by_upn ON devices (upn);
CREATE INDEX devices_by_account ON devices (lower(user_name));
