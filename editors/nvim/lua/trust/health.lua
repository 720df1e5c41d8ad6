-- :checkhealth trust — is the server found, which version, and can its backends answer?

local compat = require("trust.compat")

local M = {}

local STATUS_TIMEOUT_MS = 15000

local function server_status(client)
  local response, err = compat.request_sync(client, "workspace/executeCommand", {
    command = "trust.status",
    arguments = {},
  }, STATUS_TIMEOUT_MS)
  if not response then
    return nil, err or "no answer"
  end
  if response.err then
    return nil, response.err.message or vim.inspect(response.err)
  end
  return response.result
end

--- Start a throw-away client (when none runs) just to ask for the status.
local function temporary_client(trust, cmd)
  local id = compat.start_client({
    name = "trust-health",
    cmd = cmd,
    root_dir = compat.uv.cwd(),
    init_options = vim.deepcopy(trust.config.settings or {}),
    settings = { trust = vim.deepcopy(trust.config.settings or {}) },
  })
  if not id then
    return nil
  end
  local client
  vim.wait(STATUS_TIMEOUT_MS, function()
    client = vim.lsp.get_client_by_id(id)
    return client ~= nil and client.initialized == true
  end, 50)
  return client
end

function M.check()
  local h = compat.health()
  local trust = require("trust")
  h.start("Trust LSP")

  if not compat.has("0.7") then
    h.error("Neovim 0.7 or later is needed")
    return
  end
  h.ok("Neovim " .. tostring(vim.version().major) .. "." .. tostring(vim.version().minor)
    .. "." .. tostring(vim.version().patch))
  if require("trust.ghost").native_available() then
    h.info("ghost text: Neovim's native inline completion (vim.lsp.inline_completion)")
  else
    h.info("ghost text: the plugin's own virtual text")
  end

  local cmd = trust.config.cmd or trust.find_cmd(compat.uv.cwd())
  if type(cmd) == "string" then
    cmd = { cmd }
  end
  if not cmd or vim.fn.executable(cmd[1]) ~= 1 then
    h.error("trust-lsp not found", {
      "Install Trust LSP (see docs/editors.md) so that trust-lsp is on PATH,",
      "or pass cmd = { '/path/to/trust-lsp' } to require('trust').setup().",
    })
    return
  end
  h.ok("server: " .. table.concat(cmd, " "))
  local version = vim.fn.systemlist({ cmd[1], "--version" })
  if vim.v.shell_error == 0 and version[1] then
    h.ok("version: " .. version[#version])
  else
    h.warn("`" .. cmd[1] .. " --version` failed: " .. table.concat(version, " "))
  end

  local client = trust.get_client()
  local temporary = false
  if not client then
    client = temporary_client(trust, cmd)
    temporary = client ~= nil
  end
  if not client then
    h.error("the server did not start (see :LspLog)")
    return
  end
  local status, err = server_status(client)
  if temporary then
    compat.stop(client)
  end
  if not status then
    h.error("trust.status failed: " .. tostring(err))
    return
  end
  if status.version then
    h.info("server reports version " .. tostring(status.version))
  end
  local any = false
  for _, name in ipairs(trust.backend_order(status)) do
    local info = status.backends[name]
    local healthy, detail = trust.backend_health(info)
    local text = name .. (detail and detail ~= "" and (": " .. detail) or "")
    if info.allowed == false then
      h.info(text .. " (not allowed by privacy.mode)")
    elseif healthy then
      any = true
      h.ok(text)
    else
      h.warn(text)
    end
  end
  if not any then
    h.error("no backend can answer", {
      "Start Ollama (ollama serve), or let Trust use its embedded model",
      "(backends.local), then run :checkhealth trust again.",
    })
  end
end

return M
