# Ruby Rack with its DEFAULTS, unguarded, as a typical Rails or Sinatra action reads params: Rack::Request#POST
# for any request, whatever its media type (Rack 2.2 reads a POST without Content-Type as a form). Answers the
# canonical JSON of common.py plus "view": the media type, framing and body size this origin saw, and
# "reads_as": the body format Rack parsed ("form", "multipart" or "" for none).
require_relative 'rack_common'

APP = lambda do |env|
  request = Rack::Request.new(env)
  raw = env['rack.input'].read.to_s
  env['rack.input'].rewind
  view = {
    media_type: request.media_type.to_s.downcase,
    length: env['CONTENT_LENGTH'] && env['CONTENT_LENGTH'].to_i,
    chunked: env['HTTP_TRANSFER_ENCODING'].to_s.downcase.include?('chunked'),
    body_bytes: raw.bytesize,
  }
  reads_as = if request.media_type.to_s.downcase.start_with?("multipart/") then "multipart"
             elsif request.form_data? || request.parseable_data? then 'form'
             else '' end
  begin
    fields = []
    files = []
    walk([], request.POST, fields, files)
    [200, { 'Content-Type' => 'application/json' },
     [JSON.generate(fields: fields, files: files, view: view, reads_as: reads_as)]]
  rescue StandardError => e
    [400, { 'Content-Type' => 'application/json' }, [JSON.generate(error: "#{e.class}: #{e.message}"[0, 500].scrub, view: view)]]
  end
end

serve(APP)
