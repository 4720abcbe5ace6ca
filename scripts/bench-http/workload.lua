-- wrk workload for scripts/bench-http.sh: a mix of case reads, case lists
-- and commands by one agent key. wrk's arguments after `--`:
--   TOKEN IDS_FILE READ_SHARE
-- READ_SHARE is the fraction of requests that are reads (0.7 for the mixed
-- workload, 0 for commands alone). Commands are half case registrations,
-- half calls logged on existing cases.

local token, ids, read_share
local threads = 0

function setup(thread)
    threads = threads + 1
    thread:set("thread_number", threads)
end

local function uuid()
    return string.format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x",
        math.random(0, 0xffff), math.random(0, 0xffff), math.random(0, 0xffff),
        math.random(0, 0xfff), 0x8000 + math.random(0, 0x3fff),
        math.random(0, 0xffff), math.random(0, 0xffff), math.random(0, 0xffff))
end

function init(args)
    token = args[1]
    read_share = tonumber(args[3])
    ids = {}
    for line in io.lines(args[2]) do
        ids[#ids + 1] = line
    end
    math.randomseed(os.time() * 100 + thread_number)
end

local register = [[{"customer":{"name":"李娜","phone":"13912345678","address":"江苏省南京市鼓楼区中山路 1 号","email":null,"buyer_id":"tb_lina88"},"order":{"order_no":"TB%s","paid":{"minor":29900,"currency":"CNY"},"paid_at":"2026-02-25T02:00:00Z","postage":{"minor":1200,"currency":"CNY"},"platform_state":"seller_shipped"},"product":{"name":"空气净化器 AP-300","model":"AP-300","serial":"AP3-000123","purchase_date":null,"purchase_channel":"京东自营"},"problem":{"phenomenon":"收到货时机身有裂痕","occurred_at":null,"impact":null,"notes":null},"channel":"phone","category":"logistics","priority":"P2","split_from":null}]]

local call = [[{"call_id":"%s","direction":"inbound","with_customer":true,"party_name":null,"number":"13912345678","called_at":"2026-11-20T08:00:00Z","content":"客户询问物流进度","product":null,"fault":null,"warranty":"in_warranty","outcome":"connected","follow_up":"notified"}]]

function request()
    local headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
    local roll = math.random()
    if roll < read_share * 5 / 7 then
        return wrk.format("GET", "/v1/cases/" .. ids[math.random(#ids)], headers)
    elseif roll < read_share then
        return wrk.format("GET", "/v1/cases?limit=20", headers)
    elseif math.random() < 0.5 then
        return wrk.format("POST", "/v1/cases", headers, string.format(register, uuid():gsub("-", "")))
    else
        local path = "/v1/cases/" .. ids[math.random(#ids)] .. "/log-call"
        return wrk.format("POST", path, headers, string.format(call, uuid()))
    end
end

function done(summary, latency, requests)
    local seconds = summary.duration / 1e6
    local bad = summary.errors.status + summary.errors.connect + summary.errors.read
        + summary.errors.write + summary.errors.timeout
    io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f requests=%d errors=%d\n",
        summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        latency.max / 1000, summary.requests, bad))
end
