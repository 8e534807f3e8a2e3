# Ruby Rack: Rack::Request#POST (forms and multipart, nested bracket names) under WEBrick.
# Rack has no JSON reader: JSON bodies answer 415. Canonical answer: see common.py.
require_relative 'rack_common'

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

serve(APP)
