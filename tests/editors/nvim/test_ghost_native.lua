-- Neovim's native inline completion (vim.lsp.inline_completion, 0.12+) with Trust: the
-- plugin enables it, the server's completion shows, and the accept key inserts it.
-- On Neovim versions without it (Debian 12 has 0.7.2) the plugin's own ghost text is checked.
package.path = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":h") .. "/?.lua;" .. package.path
local H = require("harness")
local G = require("ghost_helpers")

if not (vim.lsp.inline_completion and vim.lsp.inline_completion.enable) then
  -- An older Neovim (Debian 12 has 0.7.2): the plugin must notice and draw its own.
  H.run("no native inline completion: the plugin's own ghost text", function()
    H.start_child()
    H.edit("sample.py", { "def add(a, b):", "" })
    H.eq(H.lua("return require('trust.ghost').native_available()"), false,
      "the plugin sees that this Neovim has no native inline completion")
    H.input("2GA    return ")
    local shown = G.wait_for_ghost("the plugin's ghost text appears instead")
    local _, insert = G.server_item()
    H.eq(shown.text, insert, "it shows the server's completion")
  end)
  return
end

-- The native implementation's extmark (its own namespace): the shown text.
local NATIVE_TEXT = [[
  local ns = vim.api.nvim_get_namespaces()["nvim.lsp.inline_completion"]
  if not ns then return vim.NIL end
  local marks = vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })
  if #marks == 0 then return vim.NIL end
  local out = {}
  for _, chunk in ipairs(marks[1][4].virt_text or {}) do table.insert(out, chunk[1]) end
  return table.concat(out)
]]

H.run("native inline completion", function()
  H.start_child()
  H.edit("sample.py", { "def add(a, b):", "" })
  H.ok(H.lua("return require('trust.ghost').native_available()"), "the plugin uses the native implementation")
  H.ok(H.lua("return vim.lsp.inline_completion.is_enabled({ bufnr = 0 })"), "native inline completion is enabled for the buffer")

  local typed = "    return "
  H.input("2GA" .. typed)
  local shown = H.wait(function()
    return H.lua(NATIVE_TEXT)
  end, "the native ghost text appears")
  local _, insert = G.server_item()
  H.eq(shown, insert, "it shows the server's completion")
  H.eq(G.extmark(), nil, "the plugin's own ghost text stays off")

  H.input("<M-l>")
  H.wait(function()
    return H.lines()[2] == typed .. insert
  end, "the accept key inserts it")
  H.eq(H.lines(), { "def add(a, b):", typed .. insert }, "buffer after accepting")
end)
