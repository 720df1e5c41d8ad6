-- Ghost text end to end: typing in insert mode shows the server's inline completion as an
-- extmark, the accept key inserts it (and reports the acceptance), cursor moves and <C-]>
-- dismiss it.
package.path = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":h") .. "/?.lua;" .. package.path
local H = require("harness")

local G = require("ghost_helpers")

H.run("ghost text", function()
  H.start_child()
  H.edit("sample.py", { "def add(a, b):", "" })

  -- Type the function body in insert mode.
  local typed = "    return "
  H.input("2GA" .. typed)
  local mark = G.wait_for_ghost()
  H.eq(H.mode(), "i", "still in insert mode while the ghost text shows")
  H.eq({ mark.row, mark.col }, { 1, #typed }, "the extmark sits at the cursor")
  H.eq(mark.count, 1, "one extmark")

  local item, insert = G.server_item()
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
  H.eq(G.extmark(), nil, "no ghost text left after accepting")
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
    return G.extmark() ~= nil
  end, "ghost text appears on the next line")
  H.input("<C-]>")
  H.wait(function()
    return G.extmark() == nil
  end, "<C-]> dismisses the ghost text")
  H.eq(H.lines()[3], "    x = a", "<C-]> inserted nothing")

  -- Dismiss: type again, then move the cursor.
  H.input("b")
  H.wait(function()
    return G.extmark() ~= nil
  end, "ghost text appears again")
  H.input("<Left>")
  H.wait(function()
    return G.extmark() == nil
  end, "moving the cursor dismisses the ghost text")
  H.input("<Esc>")
  H.eq(H.lines()[3], "    x = ab", "nothing inserted by dismissing")
end)
