-- :checkhealth trust and :TrustStatus against the running server.
package.path = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":h") .. "/?.lua;" .. package.path
local H = require("harness")

H.run("health and status", function()
  H.start_child()
  H.edit("main.py", { "x = 1" })

  -- Right after start the server may not have checked Ollama yet: ask until it has.
  local status
  H.wait(function()
    H.cmd("TrustStatus")
    local float = H.wait(function()
      return H.lua([[
        for _, win in ipairs(vim.api.nvim_list_wins()) do
          if vim.api.nvim_win_get_config(win).relative ~= "" then
            local lines = vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(win), 0, -1, false)
            vim.api.nvim_win_close(win, true)
            return lines
          end
        end
        return nil
      ]])
    end, ":TrustStatus opens a floating window")
    status = table.concat(float, "\n")
    return not status:find("not checked yet", 1, true)
  end, "the server has checked its backends", 15000)
  H.log("status:\n%s", status)
  H.ok(status:find("trust-lsp 0", 1, true) ~= nil, "the status names the server version")
  H.ok(status:find("privacy: local", 1, true) ~= nil, "the status shows the privacy mode")
  H.ok(status:find("✓ ollama", 1, true) ~= nil, "the status shows ollama healthy")
  H.ok(status:find("local .*%[not in fallback%.order%]") ~= nil, "backends left out of fallback.order are marked")

  H.cmd("checkhealth trust")
  local report = table.concat(H.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)"), "\n")
  H.log("checkhealth:\n%s", report)
  H.ok(report:find("OK:? server: " .. vim.pesc(H.lsp)) ~= nil, "checkhealth finds the server")
  H.ok(report:find("OK:? version: trust%-lsp %d") ~= nil, "checkhealth reports the version")
  H.ok(report:find("OK:? ollama") ~= nil, "checkhealth reports the ollama backend healthy")
  H.ok(report:find("ERROR") == nil, "checkhealth reports no error")
end)
