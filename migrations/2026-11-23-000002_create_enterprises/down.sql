DROP TABLE admin_check_attempts;
DROP TABLE memberships;
DROP TABLE enterprises;
