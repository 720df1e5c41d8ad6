-- "Ask Trust" code actions end to end through vim.lsp.buf's code action UI: the actions are
-- listed for a selection, the chosen one is resolved (codeAction/resolve) and its
-- WorkspaceEdit is applied to the buffer; "Explain" streams into the chat buffer.
package.path = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":h") .. "/?.lua;" .. package.path
local H = require("harness")

-- Replace vim.ui.select: record the offered titles and pick the one named in _G.pick.
local PICKER = [[
  _G.offered, _G.picked = nil, nil
  vim.ui.select = function(items, opts, on_choice)
    _G.offered = {}
    local chosen
    for _, item in ipairs(items) do
      local title = opts.format_item and opts.format_item(item) or tostring(item)
      table.insert(_G.offered, title)
      if title == _G.pick then chosen = item end
    end
    _G.picked = chosen ~= nil
    on_choice(chosen)
  end
]]

H.run("code actions", function()
  H.start_child()
  local original = { "def add(a, b):", "    return a - b", "", "print(add(1, 2))" }
  H.edit("calc.py", original)
  H.lua(PICKER)

  H.lua("_G.pick = 'Ask Trust: Fix'")
  H.cmd("1,2TrustAction")
  H.wait(function()
    return H.lua("return _G.offered")
  end, "code actions are offered for the selection")
  local offered = H.lua("return _G.offered")
  H.log("offered: %s", vim.inspect(offered))
  for _, title in ipairs({ "Ask Trust: Explain", "Ask Trust: Fix", "Ask Trust: Refactor", "Ask Trust: Add documentation", "Ask Trust: Write tests", "Ask Trust: Custom prompt" }) do
    H.ok(vim.tbl_contains(offered, title), "offered: " .. title)
  end
  H.ok(H.lua("return _G.picked"), "'Ask Trust: Fix' was picked")

  local expected = vim.list_extend(vim.deepcopy(H.data.fixed_lines), { "", "print(add(1, 2))" })
  H.wait(function()
    return vim.deep_equal(H.lines(), expected)
  end, "the resolved edit is applied to the buffer (buffer: " .. vim.inspect(H.lines()) .. ")")
  H.eq(H.lines(), expected, "the selection was replaced by the fixed code")

  -- Explain runs trust.ask: the explanation streams into the chat buffer.
  H.lua([[
    _G.done = 0
    vim.api.nvim_create_autocmd("User", { pattern = "TrustChatDone", callback = function() _G.done = _G.done + 1 end })
    _G.pick = 'Ask Trust: Explain'
  ]])
  H.cmd("1,2TrustAction")
  H.wait(function()
    return H.lua("return _G.done") >= 1
  end, "the explanation completes in the chat buffer")
  local chat = table.concat(H.lua([[
    return vim.api.nvim_buf_get_lines(require("trust.chat").state.buf, 0, -1, false)
  ]]), "\n")
  H.log("chat buffer:\n%s", chat)
  H.ok(chat:find(H.data.explanation, 1, true) ~= nil, "the chat buffer holds the explanation")
  H.eq(H.lines(), expected, "explaining does not change the code")
end)
