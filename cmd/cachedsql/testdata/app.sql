-- Statements of an application, for TestRunInvalidationsNames.
-- name: RenameUser :exec
UPDATE users SET name = $1 WHERE id = $2;

DELETE FROM orders WHERE id = ?;

-- name: GetUser :one
SELECT id, name FROM users WHERE id = $1;
