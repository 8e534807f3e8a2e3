<?php
// PHP's built-in server (`php -S 127.0.0.1:PORT php_router.php`): $_POST and $_FILES as PHP builds them
// (name mangling, brackets, max_input_vars), JSON bodies with json_decode(php://input) (PHP's only reader).
// Canonical answer: see common.py; values not valid UTF-8 get U+FFFD (JSON_INVALID_UTF8_SUBSTITUTE).

require_once __DIR__ . '/php_common.php';

function reply(int $status, array $body): void {
    http_response_code($status);
    header('Content-Type: application/json');
    echo json_encode($body, JSON_INVALID_UTF8_SUBSTITUTE);
}

$type = strtolower(trim(explode(';', $_SERVER['CONTENT_TYPE'] ?? '')[0]));
$fields = [];
$files = [];
if ($type === 'application/json') {
    $data = json_decode(file_get_contents('php://input'), true, 512, JSON_BIGINT_AS_STRING);
    if (json_last_error() !== JSON_ERROR_NONE) {
        reply(400, ['error' => json_last_error_msg()]);
        return true;
    }
    walk([], $data, $fields);
} elseif ($type === 'application/x-www-form-urlencoded' || $type === 'multipart/form-data') {
    walk([], $_POST, $fields);
    foreach ($_FILES as $key => $info) walk_files([strval($key)], $info['name'], $info['tmp_name'], $info['error'], $files);
} else {
    reply(415, ['error' => 'not read']);
    return true;
}
reply(200, ['fields' => $fields, 'files' => $files]);
return true;
