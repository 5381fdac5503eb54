-- wrk script for bench/run.sh: every request carries one credential picked at random from a
-- file of request header lines (`Cookie: ...` or `Authorization: Bearer ...`, one per line).
--
--   wrk -t N -c N -s bench/pick-header.lua URL -- FILE N [once]
--
-- With `once`, each thread sends its lines in order, each exactly once, and stops after the
-- answer to its last one (a run of first sights: e.g. bearer tokens no worker has verified).
--
-- Run with as many threads as connections, N of each (run.sh does): thread k then owns lines
-- k, k+N, k+2N, ... (the credentials are spread over the connections, each line used by one
-- connection only), and the answer a thread reads is always to the request it sent last. A
-- browser keeps what Set-Cookie gives it: when an answer sets a cookie the picked header
-- carries (a touched or refreshed session), that line is updated, so a run does not measure
-- the same re-issue again and again, which no browser causes. When the run ends, FILE is
-- written back with the updated lines, for the next run; `cookies_set` in the summary line
-- counts the answers that set a cookie.

local threads = {}
file = nil

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

names, values, line_numbers = {}, {}, {}
cookies_set = 0
local last

local once, sent, answered = false, 0, 0

function init(args)
  file = args[1]
  once = args[3] == "once"
  local thread_count = tonumber(args[2])
  local line_number = 0
  for line in io.lines(file) do
    if line_number % thread_count == thread_index then
      local name, value = line:match("^([^:]+):%s*(.*)$")
      table.insert(names, name)
      table.insert(values, value)
      table.insert(line_numbers, line_number)
    end
    line_number = line_number + 1
  end
  if #values == 0 then
    error("thread " .. thread_index .. ": no header lines in " .. file)
  end
  math.randomseed(os.time() * 1000 + thread_index)
end

function request()
  if once then
    last = math.min(sent + 1, #values)
    sent = sent + 1
    return wrk.format(nil, nil, { [names[last]] = values[last] })
  end
  last = math.random(#values)
  return wrk.format(nil, nil, { [names[last]] = values[last] })
end

-- Replaces cookie `name`'s value in a Cookie header value, when the header carries it.
local function replace_cookie(header, name, value)
  local pairs = {}
  local found = false
  for pair in header:gmatch("[^;]+") do
    pair = pair:gsub("^%s+", "")
    if pair:sub(1, #name + 1) == name .. "=" then
      pair = name .. "=" .. value
      found = true
    end
    table.insert(pairs, pair)
  end
  return found and table.concat(pairs, "; ") or header
end

function response(status, headers, body)
  if once then
    answered = answered + 1
    if answered >= #values then
      wrk.thread:stop()
    end
    return
  end
  local set_cookie = headers["set-cookie"] or headers["Set-Cookie"]
  if last == nil or set_cookie == nil or names[last] ~= "Cookie" then
    return
  end
  local name, value = set_cookie:match("^%s*([^=;]+)=([^;]*)")
  if name and value ~= "" then
    values[last] = replace_cookie(values[last], name, value)
    cookies_set = cookies_set + 1
  end
end

-- Runs in wrk's main Lua state once every thread has stopped.
function done(summary, latency, requests)
  local lines, set = {}, 0
  for _, thread in ipairs(threads) do
    local numbers, thread_names, thread_values = thread:get("line_numbers"), thread:get("names"), thread:get("values")
    for i, number in ipairs(numbers) do
      lines[number + 1] = thread_names[i] .. ": " .. thread_values[i]
    end
    set = set + thread:get("cookies_set")
  end
  local path = threads[1]:get("file")
  local out = assert(io.open(path, "w"))
  out:write(table.concat(lines, "\n"), "\n")
  out:close()
  io.write(string.format("cookies_set %d\n", set))
end
