-- One open leave request (退出企业) and one open admin transfer (管理员转授) per member and
-- enterprise, as 000005 does for join requests. The API checks first for a clear message; these
-- indexes settle two simultaneous submissions: one wins, the other gets 409.
CREATE UNIQUE INDEX instances_one_open_leave_request
    ON instances (requester, subject_id)
    WHERE definition = 'leave_enterprise' AND status = 'running';
CREATE UNIQUE INDEX instances_one_open_admin_transfer
    ON instances (requester, subject_id)
    WHERE definition = 'admin_transfer' AND status = 'running';
