-- One applicant has at most one open join request per enterprise (SPEC §2). The API checks
-- first for a clear message; this index settles two simultaneous submissions: one wins.
CREATE UNIQUE INDEX instances_one_open_join_request
    ON instances (requester, subject_id)
    WHERE definition = 'join_request' AND status = 'running';
