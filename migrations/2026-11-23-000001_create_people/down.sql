DROP TABLE api_tokens;
DROP TABLE staff_roles;
DROP TABLE users;
