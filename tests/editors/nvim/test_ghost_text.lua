-- Ghost text end to end: typing in insert mode shows the server's inline completion as an
-- extmark, the accept key inserts it (and reports the acceptance), cursor moves and <C-]>
-- dismiss it.
package.path = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":h") .. "/?.lua;" .. package.path
local H = require("harness")

-- The text an extmark shows: its virt_text, then each of its virt_lines on a new line.
local EXTMARK_TEXT = [[
  local ns = require("trust.ghost").ns
  local marks = vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })
  if #marks == 0 then return vim.NIL end
  local details = marks[1][4]
  local function join(chunks)
    local out = {}
    for _, chunk in ipairs(chunks or {}) do table.insert(out, chunk[1]) end
    return table.concat(out)
  end
  local lines = { join(details.virt_text) }
  for _, line in ipairs(details.virt_lines or {}) do table.insert(lines, join(line)) end
  return { text = table.concat(lines, "\n"), row = marks[1][2], col = marks[1][3], count = #marks }
]]

-- Ask the server directly, at the cursor, for what it completes there (answered from its cache).
local DIRECT_REQUEST = [[
  _G.direct = nil
  local client
  for _, c in pairs(vim.lsp.buf_get_clients(0)) do if c.name == "trust" then client = c end end
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = 1 }
  require("trust.compat").request(client, "textDocument/inlineCompletion", params, function(err, result)
    _G.direct = { err = err, result = result, cursor = vim.api.nvim_win_get_cursor(0) }
  end, 0)
]]

H.run("ghost text", function()
  H.start_child()
  H.edit("sample.py", { "def add(a, b):", "" })

  -- Type the function body in insert mode.
  local typed = "    return "
  H.input("2GA" .. typed)
  local mark = H.wait(function()
    local m = H.lua(EXTMARK_TEXT)
    return m ~= vim.NIL and m or nil
  end, "ghost text appears after typing")
  H.eq(H.mode(), "i", "still in insert mode while the ghost text shows")
  H.eq({ mark.row, mark.col }, { 1, #typed }, "the extmark sits at the cursor")
  H.eq(mark.count, 1, "one extmark")

  H.lua(DIRECT_REQUEST)
  local direct = H.wait(function()
    local d = H.lua("return _G.direct")
    return d ~= vim.NIL and d or nil
  end, "the server answers a direct inline completion request")
  H.ok(direct.err == nil or direct.err == vim.NIL, "the direct request succeeds")
  local items = direct.result.items or direct.result
  local item = items[1]
  H.ok(item ~= nil, "the server has an item at the cursor")
  local insert = type(item.insertText) == "table" and item.insertText.value or item.insertText
  H.eq(item.range.start, { line = 1, character = #typed }, "the item's range starts at the cursor")
  H.eq(mark.text, insert, "the ghost text equals the server's completion")
  H.eq(mark.text, H.data.expected_ghost, "… which is the scripted reply after post-processing")
  H.eq(item.command and item.command.command, "trust.acceptCompletion", "the item carries the accept command")

  -- Accept with <M-l>: the text is inserted and the cursor moves to its end.
  H.input("<M-l>")
  H.wait(function()
    return H.lines()[2] == typed .. insert
  end, "the accept key inserts the completion")
  H.eq(H.lines(), { "def add(a, b):", typed .. insert }, "buffer after accepting")
  H.eq(H.lua("return vim.api.nvim_win_get_cursor(0)"), { 2, #(typed .. insert) }, "cursor after the inserted text")
  H.eq(H.lua(EXTMARK_TEXT), vim.NIL, "no ghost text left after accepting")
  H.eq(H.mode(), "i", "still in insert mode after accepting")

  -- The acceptance reached the server through the item's command (trust.acceptCompletion).
  H.lua([[
    _G.status = nil
    require("trust").execute("trust.status", {}, function(err, result) _G.status = { err = err, result = result } end)
  ]])
  local status = H.wait(function()
    local s = H.lua("return _G.status")
    return s ~= vim.NIL and s or nil
  end, "trust.status answers")
  H.ok(type(status.result) == "table" and (status.result.acceptanceRate or 0) > 0,
    "the server counted the acceptance (acceptanceRate " .. vim.inspect(status.result and status.result.acceptanceRate) .. ")")

  -- Dismiss: a new line, ghost text, then <C-]>.
  H.input("<CR>")
  H.input("x = a")  -- autoindent (on by default) keeps the indent
  H.wait(function()
    return H.lua(EXTMARK_TEXT) ~= vim.NIL
  end, "ghost text appears on the next line")
  H.input("<C-]>")
  H.wait(function()
    return H.lua(EXTMARK_TEXT) == vim.NIL
  end, "<C-]> dismisses the ghost text")
  H.eq(H.lines()[3], "    x = a", "<C-]> inserted nothing")

  -- Dismiss: type again, then move the cursor.
  H.input("b")
  H.wait(function()
    return H.lua(EXTMARK_TEXT) ~= vim.NIL
  end, "ghost text appears again")
  H.input("<Left>")
  H.wait(function()
    return H.lua(EXTMARK_TEXT) == vim.NIL
  end, "moving the cursor dismisses the ghost text")
  H.input("<Esc>")
  H.eq(H.lines()[3], "    x = ab", "nothing inserted by dismissing")
end)
