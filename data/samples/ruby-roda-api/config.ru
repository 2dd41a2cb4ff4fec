require "roda"

class App < Roda
  route do |r|
    r.get "healthz" do
      "ok"
    end

    r.get "orders", Integer do |id|
      "order #{id}"
    end
  end
end

run App.freeze.app
