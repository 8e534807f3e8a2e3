<?php
// What both PHP origins (php_router.php, php_defaults.php) share: the canonical fields and files of
// common.py from what PHP parsed ($_POST or json_decode, $_FILES).

function walk(array $path, $value, array &$out): void {
    if (is_array($value)) {
        foreach ($value as $k => $v) walk(array_merge($path, [strval($k)]), $v, $out);
    } else {
        $out[] = [$path, is_string($value) ? $value : json_encode($value)];
    }
}

function walk_files(array $path, $name, $tmp, $error, array &$out): void {
    if (is_array($name)) {
        foreach ($name as $k => $n) walk_files(array_merge($path, [strval($k)]), $n, $tmp[$k], $error[$k], $out);
    } else {
        $out[] = [$path, $name, $error === UPLOAD_ERR_OK ? file_get_contents($tmp) : ''];
    }
}
