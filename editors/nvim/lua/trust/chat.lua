-- :TrustChat / :TrustAsk — a markdown scratch buffer that shows the conversation. The
-- answer is appended as the server's `$/progress` reports arrive on the work-done token this
-- module passes with `workspace/executeCommand` (trust.chat / trust.ask).

local compat = require("trust.compat")

local M = {}

M.state = {
  buf = nil,
  session_id = nil,
  running = nil,
  counter = 0,
}

-- token -> function(value) for the progress streams this module started
local streams = {}

local STOP_GRACE_MS = 1500

local function trust()
  return require("trust")
end

--- `$/progress` handler of the Trust client: our tokens feed the chat, others go to the
--- handler Neovim (or another plugin) installed.
function M.progress_handler(err, result, ctx, config)
  local token = type(result) == "table" and result.token or nil
  local stream = token ~= nil and streams[token] or nil
  if stream then
    stream(result.value or {})
    return
  end
  local default = vim.lsp.handlers["$/progress"]
  if default then
    return default(err, result, ctx, config)
  end
end

local function fire(pattern)
  pcall(vim.api.nvim_exec_autocmds, "User", { pattern = pattern, modeline = false })
end

local function buffer()
  local buf = M.state.buf
  if buf and vim.api.nvim_buf_is_valid(buf) then
    return buf
  end
  buf = vim.api.nvim_create_buf(false, true)
  pcall(vim.api.nvim_buf_set_name, buf, "trust://chat")
  vim.bo[buf].filetype = "markdown"
  vim.bo[buf].bufhidden = "hide"
  vim.bo[buf].swapfile = false
  vim.keymap.set("n", "<C-c>", function()
    M.stop()
  end, { buffer = buf, desc = "Trust: stop the answer" })
  M.state.buf = buf
  return buf
end

--- Show the chat buffer in a split (or the window that already shows it); returns the window.
function M.open()
  local buf = buffer()
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_buf(win) == buf then
      return win
    end
  end
  local previous = vim.api.nvim_get_current_win()
  local cfg = trust().config.chat or {}
  local size = tonumber(cfg.size) or ""
  if cfg.split == "horizontal" then
    vim.cmd("botright " .. size .. "split")
  else
    vim.cmd("botright " .. size .. "vsplit")
  end
  local win = vim.api.nvim_get_current_win()
  vim.api.nvim_win_set_buf(win, buf)
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  vim.wo[win].number = false
  vim.api.nvim_set_current_win(previous)
  return win
end

local function windows_at_end(buf)
  local out = {}
  local count = vim.api.nvim_buf_line_count(buf)
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_buf(win) == buf and vim.api.nvim_win_get_cursor(win)[1] >= count - 1 then
      table.insert(out, win)
    end
  end
  return out
end

local function follow(buf, wins)
  local count = vim.api.nvim_buf_line_count(buf)
  for _, win in ipairs(wins) do
    if vim.api.nvim_win_is_valid(win) then
      pcall(vim.api.nvim_win_set_cursor, win, { count, 0 })
    end
  end
end

--- Append whole lines at the end of the chat buffer.
local function append_lines(lines)
  local buf = buffer()
  local wins = windows_at_end(buf)
  local count = vim.api.nvim_buf_line_count(buf)
  local only = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  if count == 1 and only[1] == "" then
    vim.api.nvim_buf_set_lines(buf, 0, 1, false, lines)
  else
    vim.api.nvim_buf_set_lines(buf, count, count, false, lines)
  end
  follow(buf, wins)
end

--- Append text at the end of the last line (a streamed delta may hold newlines).
local function append_text(text)
  local buf = buffer()
  local wins = windows_at_end(buf)
  local count = vim.api.nvim_buf_line_count(buf)
  local last = vim.api.nvim_buf_get_lines(buf, count - 1, count, false)[1] or ""
  vim.api.nvim_buf_set_lines(buf, count - 1, count, false, vim.split(last .. text, "\n", { plain = true }))
  follow(buf, wins)
end

--- Replace everything from line `from` (0-based) to the end with `text`.
local function replace_from(from, text)
  local buf = buffer()
  local wins = windows_at_end(buf)
  vim.api.nvim_buf_set_lines(buf, from, -1, false, vim.split(text, "\n", { plain = true }))
  follow(buf, wins)
end

local function footer(result)
  local parts = {}
  if type(result.backend) == "string" and result.backend ~= "" then
    table.insert(parts, result.backend)
  end
  if type(result.model) == "string" and result.model ~= "" then
    table.insert(parts, result.model)
  end
  local text = table.concat(parts, " · ")
  if result.cloud == true then
    text = "☁ " .. text .. (result.backend ~= "cloud" and " (cloud)" or "")
  end
  if result.interrupted == true then
    text = text .. " (stopped)"
  end
  return text
end

local function finish(turn, lines)
  if turn.finished then
    return
  end
  turn.finished = true
  streams[turn.token] = nil
  if M.state.running == turn then
    M.state.running = nil
  end
  if lines then
    append_lines(lines)
  end
  fire("TrustChatDone")
end

--- Send a question: `command` is "trust.chat" (continues the session) or "trust.ask" (one-shot).
--- `args` holds `prompt` and optionally `uri` and `range`; `label` is shown under the prompt.
function M.send(command, args, label)
  if M.state.running then
    M.stop({ now = true })
  end
  M.open()
  local buf = buffer()
  local lines = {}
  local existing = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  if #existing > 1 or existing[1] ~= "" then
    table.insert(lines, "")
  end
  table.insert(lines, "## You")
  table.insert(lines, "")
  vim.list_extend(lines, vim.split(args.prompt, "\n", { plain = true }))
  if label then
    table.insert(lines, "")
    table.insert(lines, "_" .. label .. "_")
  end
  vim.list_extend(lines, { "", "## Trust", "", "" })
  append_lines(lines)
  local answer_start = vim.api.nvim_buf_line_count(buf) - 1

  M.state.counter = M.state.counter + 1
  local turn = {
    token = string.format("trust-nvim-chat-%d-%d", compat.uv.getpid(), M.state.counter),
    deltas = {},
    finished = false,
    stopped = false,
  }
  streams[turn.token] = function(value)
    if value.kind == "report" and type(value.message) == "string" and not turn.stopped then
      table.insert(turn.deltas, value.message)
      append_text(value.message)
      fire("TrustChatDelta")
    end
  end
  if command == "trust.chat" and M.state.session_id then
    args.sessionId = M.state.session_id
  end
  M.state.running = turn
  local client, id = trust().execute(command, { args }, function(err, result)
    if turn.finished then
      return
    end
    if err then
      finish(turn, { "", "> **Error:** " .. (err.message or vim.inspect(err)) })
      return
    end
    result = type(result) == "table" and result or {}
    if command == "trust.chat" and type(result.sessionId) == "string" then
      M.state.session_id = result.sessionId
    end
    -- The result holds the whole answer: it wins if the stream missed anything.
    if type(result.text) == "string" and result.text ~= table.concat(turn.deltas) then
      replace_from(answer_start, result.text)
    end
    if turn.stopped then
      result.interrupted = true
    end
    local note = footer(result)
    finish(turn, note ~= "" and { "", "_" .. note .. "_" } or nil)
  end, { token = turn.token })
  turn.client, turn.id = client, id
  return turn
end

--- :TrustChatStop — cancel the request (`$/cancelRequest`); the partial answer stays.
--- `opts.now`: mark the turn stopped at once (a new question follows right away).
function M.stop(opts)
  local turn = M.state.running
  if not turn or turn.finished then
    return
  end
  turn.stopped = true
  if turn.client and turn.id then
    require("trust.compat").cancel_request(turn.client, turn.id)
  end
  if opts and opts.now then
    finish(turn, { "", "_(stopped)_" })
    return
  end
  -- Neovim drops the reply of a cancelled request; if the server answers with the partial
  -- result instead, that reply finishes the turn. Otherwise finish it here.
  vim.defer_fn(function()
    finish(turn, { "", "_(stopped)_" })
  end, STOP_GRACE_MS)
end

local function current_uri()
  local buf = trust().last_file_buf
  if buf and vim.api.nvim_buf_is_valid(buf) and vim.api.nvim_buf_get_name(buf) ~= "" then
    return vim.uri_from_bufnr(buf)
  end
  return nil
end

--- :TrustChat [prompt] — open the chat; with a prompt, ask it.
function M.chat(prompt)
  if prompt and prompt ~= "" then
    return M.send("trust.chat", { prompt = prompt, uri = current_uri() })
  end
  local win = M.open()
  vim.ui.input({ prompt = "Ask Trust: " }, function(input)
    if input and input ~= "" then
      M.send("trust.chat", { prompt = input, uri = current_uri() })
    end
  end)
  return win
end

--- :TrustChatNew — forget the session (the server starts a fresh one).
function M.new_session()
  M.stop({ now = true })
  M.state.session_id = nil
  trust().execute("trust.newSession", {}, function(err, result)
    if not err and type(result) == "table" and type(result.sessionId) == "string" then
      M.state.session_id = result.sessionId
    end
  end)
  local buf = buffer()
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, {})
end

--- :'<,'>TrustAsk {prompt} — ask about lines line1..line2 of the current buffer.
function M.ask_range(prompt, line1, line2)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = trust().get_client(bufnr)
  local encoding = client and client.offset_encoding or "utf-16"
  local last = vim.api.nvim_buf_get_lines(bufnr, line2 - 1, line2, false)[1] or ""
  local range = {
    start = { line = line1 - 1, character = 0 },
    ["end"] = { line = line2 - 1, character = require("trust.compat").char_col(bufnr, line2 - 1, #last, encoding) },
  }
  local name = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ":t")
  local label = line1 == line2 and string.format("%s:%d", name, line1) or string.format("%s:%d-%d", name, line1, line2)
  local function go(text)
    M.send("trust.chat", { prompt = text, uri = vim.uri_from_bufnr(bufnr), range = range }, label)
  end
  if prompt and prompt ~= "" then
    return go(prompt)
  end
  vim.ui.input({ prompt = "Ask Trust about " .. label .. ": " }, function(input)
    if input and input ~= "" then
      go(input)
    end
  end)
end

--- A code action's trust.ask / trust.chat command (Explain, Custom prompt): stream it here.
function M.run_command(command, _)
  local args = vim.deepcopy((command.arguments or {})[1] or {})
  local label
  if type(args.uri) == "string" then
    label = vim.fn.fnamemodify(vim.uri_to_fname(args.uri), ":t")
    if type(args.range) == "table" then
      label = string.format("%s:%d-%d", label, args.range.start.line + 1, args.range["end"].line + 1)
    end
  end
  local name = command.command == "trust.chat" and "trust.chat" or "trust.ask"
  if type(args.prompt) == "string" and args.prompt ~= "" then
    return M.send(name, args, label)
  end
  vim.ui.input({ prompt = "Ask Trust: " }, function(input)
    if input and input ~= "" then
      args.prompt = input
      M.send(name, args, label)
    end
  end)
end

return M
