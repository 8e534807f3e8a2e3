# What both Rack origins (rack_origin.rb, rack_defaults.rb) share: the canonical fields/files of common.py
# from Rack's parsed params, and WEBrick on a free loopback port that prints `LISTENING <port>`.
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

def serve(app)
  server = WEBrick::HTTPServer.new(BindAddress: '127.0.0.1', Port: 0, Logger: WEBrick::Log.new(File::NULL),
                                   AccessLog: [])
  server.mount '/', Rack::Handler::WEBrick, app
  $stdout.puts "LISTENING #{server.config[:Port]}"
  $stdout.flush
  trap('TERM') { server.shutdown }
  server.start
end
