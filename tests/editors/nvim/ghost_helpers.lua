-- Shared by the ghost text tests: read the ghost text's extmark, and ask the server directly.
local H = require("harness")

local G = {}

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
  return {
    text = table.concat(lines, "\n"), row = marks[1][2], col = marks[1][3], count = #marks,
    virt_lines = #(details.virt_lines or {}),
  }
]]

-- Ask the server directly, at the cursor, for what it completes there (answered from its cache).
local DIRECT_REQUEST = [[
  _G.direct = nil
  local client
  for _, c in pairs(require("trust.compat").buf_clients(0)) do if c.name == "trust" then client = c end end
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = 1 }
  require("trust.compat").request(client, "textDocument/inlineCompletion", params, function(err, result)
    _G.direct = { err = err, result = result, cursor = vim.api.nvim_win_get_cursor(0) }
  end, 0)
]]

--- The ghost text's extmark now, or nil.
function G.extmark()
  local mark = H.lua(EXTMARK_TEXT)
  return mark ~= vim.NIL and mark or nil
end

--- Wait for the ghost text to show; returns its extmark.
function G.wait_for_ghost(message)
  return H.wait(G.extmark, message or "ghost text appears after typing")
end

--- The server's first inline completion item at the cursor (a direct request).
function G.server_item()
  H.lua(DIRECT_REQUEST)
  local direct = H.wait(function()
    return H.lua("return _G.direct")
  end, "the server answers a direct inline completion request")
  H.ok(direct.err == nil or direct.err == vim.NIL, "the direct request succeeds")
  local items = direct.result.items or direct.result
  local item = items[1]
  H.ok(item ~= nil, "the server has an item at the cursor")
  local insert = type(item.insertText) == "table" and item.insertText.value or item.insertText
  return item, insert
end

return G
