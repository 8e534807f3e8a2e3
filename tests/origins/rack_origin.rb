# Ruby Rack: Rack::Request#POST (forms and multipart, nested bracket names) under WEBrick.
# Rack has no JSON reader: JSON bodies answer 415. Canonical answer: see common.py.
require 'json'
require 'rack'
require 'webrick'
require 'rack/handler/webrick'

def walk(path, value, fields, files)
  if value.is_a?(Hash) && value.key?(:tempfile)
    files << [path, value[:filename].to_s.dup.force_encoding('UTF-8').scrub, value[:tempfile].read.force_encoding('UTF-8').scrub]
  elsif value.is_a?(Hash)
    value.each { |k, v| walk(path + [k.to_s], v, fields, files) }
  elsif value.is_a?(Array)
    value.each_with_index { |v, i| walk(path + [i.to_s], v, fields, files) }
  else
    fields << [path, value.to_s.dup.force_encoding('UTF-8').scrub]
  end
end

APP = lambda do |env|
  request = Rack::Request.new(env)
  type = request.media_type.to_s.downcase
  unless ['application/x-www-form-urlencoded', 'multipart/form-data'].include?(type)
    next [415, { 'Content-Type' => 'application/json' }, [JSON.generate(error: 'not read')]]
  end
  begin
    fields = []
    files = []
    walk([], request.POST, fields, files)
    [200, { 'Content-Type' => 'application/json' }, [JSON.generate(fields: fields, files: files)]]
  rescue StandardError => e
    [400, { 'Content-Type' => 'application/json' }, [JSON.generate(error: "#{e.class}: #{e.message}"[0, 500].scrub)]]
  end
end

server = WEBrick::HTTPServer.new(BindAddress: '127.0.0.1', Port: 0, Logger: WEBrick::Log.new(File::NULL),
                                 AccessLog: [])
server.mount '/', Rack::Handler::WEBrick, APP
$stdout.puts "LISTENING #{server.config[:Port]}"
$stdout.flush
trap('TERM') { server.shutdown }
server.start
