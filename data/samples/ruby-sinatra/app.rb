require "sinatra"
require "json"

set :port, ENV.fetch("PORT", 4567)

get "/healthz" do
  content_type :json
  { status: "ok" }.to_json
end

get "/hello/:name" do
  "Hello, #{params[:name]}!"
end
