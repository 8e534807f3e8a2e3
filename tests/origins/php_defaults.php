<?php
// PHP with its DEFAULTS, unguarded: $_POST and $_FILES as PHP fills them for whatever request arrives (the
// built-in server, `php -S`). Answers the canonical JSON (common.py) plus "view" (the media type, framing
// and body size PHP saw; php://input is empty for multipart, which PHP consumed) and "reads_as".

require_once __DIR__ . '/php_common.php';

$type = strtolower(trim(explode(';', $_SERVER['CONTENT_TYPE'] ?? '')[0]));
$input = file_get_contents('php://input');
$view = [
    'media_type' => $type,
    'length' => isset($_SERVER['CONTENT_LENGTH']) && $_SERVER['CONTENT_LENGTH'] !== '' ? intval($_SERVER['CONTENT_LENGTH']) : null,
    'chunked' => stripos($_SERVER['HTTP_TRANSFER_ENCODING'] ?? '', 'chunked') !== false,
    'body_bytes' => strlen($input),
];
$fields = [];
$files = [];
walk([], $_POST, $fields);
foreach ($_FILES as $key => $info) walk_files([strval($key)], $info['name'], $info['tmp_name'], $info['error'], $files);
$reads_as = '';
if (str_starts_with($type, 'multipart/form-data')) {
    $reads_as = 'multipart';
    $view['body_bytes'] = null;  // PHP read the body itself
} elseif ($fields || $type === 'application/x-www-form-urlencoded') {
    $reads_as = 'form';
}
http_response_code(200);
header('Content-Type: application/json');
echo json_encode(['fields' => $fields, 'files' => $files, 'view' => $view, 'reads_as' => $reads_as], JSON_INVALID_UTF8_SUBSTITUTE);
return true;
