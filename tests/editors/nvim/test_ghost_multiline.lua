-- Multi-line ghost text: at the end of a line that opens a block, the server's several-line
-- completion shows as virtual text plus virt_lines, and the accept key inserts all of it.
package.path = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":h") .. "/?.lua;" .. package.path
local H = require("harness")
local G = require("ghost_helpers")

H.run("multi-line ghost text", function()
  H.start_child()
  -- Type at once after opening the file: the server may still be starting (the plugin then
  -- asks again once it has initialized).
  H.edit("total.py", { "", "", "print(total([1, 2]))" }, { wait = false })
  local typed = "def total(xs):"
  H.input("ggi" .. typed)
  local mark = G.wait_for_ghost()
  local item, insert = G.server_item()
  H.log("server completion: %q", insert)
  H.eq(mark.text, insert, "the ghost text equals the server's completion")
  H.eq(insert, H.data.expected_ghost, "… which is the scripted reply after post-processing")
  local lines = vim.split(insert, "\n", { plain = true })
  H.ok(#lines >= 3, string.format("the completion has several lines (%d)", #lines))
  H.eq(mark.virt_lines, #lines - 1, "the lines after the first are virt_lines")
  H.eq({ mark.row, mark.col }, { 0, #typed }, "the extmark sits at the cursor")
  H.eq(H.lines(), { typed, "", "print(total([1, 2]))" }, "showing ghost text does not change the buffer")

  H.input("<M-l>")
  local expected = vim.split(typed .. insert, "\n", { plain = true })
  vim.list_extend(expected, { "", "print(total([1, 2]))" })
  H.wait(function()
    return vim.deep_equal(H.lines(), expected)
  end, "the accept key inserts every line")
  H.eq(H.lines(), expected, "buffer after accepting")
  H.eq(H.lua("return vim.api.nvim_win_get_cursor(0)"), { #lines, #lines[#lines] }, "cursor at the end of the insertion")
  local _ = item
end)
