<?php
// Reads a JSON list of form bodies on stdin and prints, for each, the leaf paths holding the value "V" that
// parse_str builds: the same php_register_variable_ex that fills $_POST (tests/test_name_readings.py).
function leaves($value, $prefix, &$out) {
    if ($value === 'V') { $out[] = $prefix; return; }
    if (is_array($value)) {
        foreach ($value as $key => $child) { leaves($child, array_merge($prefix, [(string) $key]), $out); }
    }
}
$result = [];
foreach (json_decode(stream_get_contents(STDIN), true) as $body) {
    parse_str($body, $parsed);
    $paths = [];
    leaves($parsed, [], $paths);
    $result[] = $paths;
}
echo json_encode(['paths' => $result, 'version' => PHP_VERSION]);
