-- :TrustChat end to end: the answer streams into the chat buffer in order, delta by delta,
-- and equals the scripted reply; the footer names the backend; :TrustChatStop cancels.
package.path = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":h") .. "/?.lua;" .. package.path
local H = require("harness")

-- Record the chat buffer after each delta, and when the turn is done.
local RECORD = [[
  _G.snapshots, _G.done = {}, 0
  local group = vim.api.nvim_create_augroup("trust_test", { clear = true })
  vim.api.nvim_create_autocmd("User", { group = group, pattern = "TrustChatDelta", callback = function()
    local buf = require("trust.chat").state.buf
    table.insert(_G.snapshots, table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n"))
  end })
  vim.api.nvim_create_autocmd("User", { group = group, pattern = "TrustChatDone", callback = function()
    _G.done = _G.done + 1
  end })
]]

local function chat_text()
  return table.concat(H.lua([[
    local buf = require("trust.chat").state.buf
    return vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  ]]), "\n")
end

-- The answer: what follows the last "## Trust" heading, without the footer.
local function answer_of(text)
  local start, pos = nil, 1
  while true do
    local found = text:find("## Trust\n\n", pos, true)
    if not found then
      break
    end
    start, pos = found, found + 1
  end
  if not start then
    return ""
  end
  local body = text:sub(start + #"## Trust\n\n")
  return (body:gsub("\n\n_[^\n]*_$", ""))
end

H.run("chat", function()
  H.start_child()
  H.edit("notes.py", { "print('hi')" })
  H.lua(RECORD)

  H.cmd("TrustChat hello")
  H.wait(function()
    return H.lua("return _G.done") >= 1
  end, "the chat answer completes")
  local reply = H.data.reply
  local text = chat_text()
  H.log("chat buffer:\n%s", text)
  H.ok(text:find("## You\n\nhello\n", 1, true) == 1, "the buffer starts with the question")
  H.eq(answer_of(text), reply, "the buffer holds the whole streamed answer")
  H.ok(text:find("\n_ollama · [^\n]+_$") ~= nil, "the footer names the backend and model")
  H.eq(H.lua("return vim.bo[require('trust.chat').state.buf].filetype"), "markdown", "the chat buffer is markdown")
  H.ok(H.lua("return #vim.api.nvim_list_wins()") == 2, "the chat opened in a split")

  local snapshots = H.lua("return _G.snapshots")
  H.ok(#snapshots >= 3, string.format("the answer arrived in several deltas (%d)", #snapshots))
  local previous = ""
  local in_order = true
  for _, snapshot in ipairs(snapshots) do
    local partial = answer_of(snapshot)
    if reply:sub(1, #partial) ~= partial or #partial < #previous then
      in_order = false
      H.log("out of order: %q after %q", partial, previous)
    end
    previous = partial
  end
  H.ok(in_order, "each delta extends the answer, in order, as a prefix of the reply")
  H.ok(#answer_of(snapshots[1]) < #reply, "the first delta shows only part of the answer")

  -- Stop: a slow answer, cancelled after its first words.
  H.cmd("TrustChat tell me a long story")
  H.wait(function()
    return #H.lua("return _G.snapshots") > #snapshots
  end, "the second answer starts streaming")
  H.cmd("TrustChatStop")
  H.wait(function()
    return H.lua("return _G.done") >= 2
  end, "the stopped answer finishes")
  local stopped = chat_text()
  H.log("after stop:\n%s", stopped)
  local partial = answer_of(stopped)
  H.ok(#partial > 0 and #partial < #H.data.long_reply, "only part of the long answer arrived")
  H.ok(stopped:find("stopped", 1, true) ~= nil, "the answer is marked as stopped")
  H.ok(H.lua("return require('trust.chat').state.running == nil"), "no request is running")

  -- A new question while an answer streams: the old one is stopped first, in its place.
  local before = #H.lua("return _G.snapshots")
  H.cmd("TrustChat another long story")
  H.wait(function()
    return #H.lua("return _G.snapshots") > before
  end, "the third answer starts streaming")
  H.cmd("TrustChat short please")
  H.wait(function()
    return H.lua("return _G.done") >= 4
  end, "the interrupted and the new answer finish")
  local text = chat_text()
  local last_question = text:find("## You\n\nshort please", 1, true)
  local stopped_mark = text:find("_(stopped)_\n\n## You\n\nshort please", 1, true)
  H.ok(last_question ~= nil and stopped_mark ~= nil, "the interrupted answer is marked stopped before the new question")
  H.eq(answer_of(text), H.data.short_reply, "the new question gets its own, whole answer")
end)
