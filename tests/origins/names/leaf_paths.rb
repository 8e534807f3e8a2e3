# Reads a JSON list of form bodies on stdin and prints, for each, the leaf paths holding the value "V" that
# Rack::Utils.parse_nested_query builds (Rack's QueryParser, as Rails and Sinatra read forms).
require 'json'
require 'rack'

def leaves(value, prefix, out)
  if value == 'V'
    out << prefix
  elsif value.is_a?(Hash)
    value.each { |key, child| leaves(child, prefix + [key.to_s], out) }
  elsif value.is_a?(Array)
    value.each_with_index { |child, index| leaves(child, prefix + [index.to_s], out) }
  end
  out
end

paths = JSON.parse($stdin.read).map do |body|
  leaves(Rack::Utils.parse_nested_query(body), [], [])
rescue StandardError
  []
end
print JSON.generate({ 'paths' => paths, 'version' => Rack.release })
