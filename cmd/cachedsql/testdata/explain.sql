-- Statements for TestExplainInput.
-- name: GetUser :one
SELECT id, name FROM users WHERE id = $1;

UPDATE users SET name = $1 WHERE id = $2;

SELECT 'a;b' FROM t
