<?php
// PHP's built-in server (`php -S 127.0.0.1:PORT key_readings.php`) reading protected paths as Laravel's
// helpers do (Laravel itself is not installed here: data_get, Arr::get and Arr::undot below follow
// Illuminate/Collections/helpers.php and Arr.php of Laravel 11, minus the wildcard and {first}/{last}
// query forms, which only matter in the query an application writes, not in the data).
// The paths to read come in KEY_READS (JSON list of key lists); the body is json_decode(php://input) for
// JSON and $_POST for forms. Answer: {"readings": [[accessor, [key, ...], value-or-null], ...]}.

function exists_in($array, $key): bool {
    return is_array($array) && array_key_exists($key, $array);
}

// Laravel's data_get: the key split at every '.', each segment looked up in turn
function data_get($target, string $key) {
    foreach (explode('.', $key) as $segment) {
        if (exists_in($target, $segment)) {
            $target = $target[$segment];
        } else {
            return null;
        }
    }
    return $target;
}

// Laravel's Arr::get: the whole key first (a member named "card.number"), then the dotted segments
function arr_get($array, string $key) {
    if (exists_in($array, $key)) {
        return $array[$key];
    }
    if (strpos($key, '.') === false) {
        return null;
    }
    foreach (explode('.', $key) as $segment) {
        if (exists_in($array, $segment)) {
            $array = $array[$segment];
        } else {
            return null;
        }
    }
    return $array;
}

// Laravel's Arr::set and Arr::undot: every top-level dotted key becomes a nested path
function arr_set(array &$array, string $key, $value): void {
    $keys = explode('.', $key);
    foreach ($keys as $i => $segment) {
        if (count($keys) === 1) {
            break;
        }
        unset($keys[$i]);
        if (!isset($array[$segment]) || !is_array($array[$segment])) {
            $array[$segment] = [];
        }
        $array = &$array[$segment];
    }
    $array[array_shift($keys)] = $value;
}

function arr_undot($array): array {
    $out = [];
    foreach ((is_array($array) ? $array : []) as $key => $value) {
        arr_set($out, strval($key), $value);
    }
    return $out;
}

function shown($value) {
    if ($value === null) return null;
    return is_string($value) ? $value : json_encode($value, JSON_INVALID_UTF8_SUBSTITUTE);
}

function reply(int $status, array $body): void {
    http_response_code($status);
    header('Content-Type: application/json');
    echo json_encode($body, JSON_INVALID_UTF8_SUBSTITUTE);
}

$type = strtolower(trim(explode(';', $_SERVER['CONTENT_TYPE'] ?? '')[0]));
if ($type === 'application/json') {
    $body = json_decode(file_get_contents('php://input'), true, 512, JSON_BIGINT_AS_STRING);
    if (json_last_error() !== JSON_ERROR_NONE) {
        reply(400, ['error' => json_last_error_msg()]);
        return true;
    }
} else {
    $body = $_POST;
}
$readings = [];
$undotted = arr_undot($body);
foreach (json_decode(getenv('KEY_READS') ?: '[]', true) as $path) {
    $dotted = implode('.', $path);
    $readings[] = ['data_get', $path, shown(data_get($body, $dotted))];
    $readings[] = ['Arr::get', $path, shown(arr_get($body, $dotted))];
    $readings[] = ['Arr::undot', $path, shown(data_get($undotted, $dotted))];
}
reply(200, ['readings' => $readings]);
return true;
