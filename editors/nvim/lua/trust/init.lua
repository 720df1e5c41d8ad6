-- Trust LSP for Neovim (0.7.2 and later).
--
--   require("trust").setup({
--     cmd = { "trust-lsp" },            -- default: trust-lsp on PATH, else ./.venv/bin/trust-lsp
--     settings = { backends = { ollama = { url = "http://127.0.0.1:11434" } } },
--     ghost_text = { accept_key = "<M-l>", dismiss_key = "<C-]>" },
--   })
--
-- Starts the server for every buffer with a file, shows inline completions as ghost text,
-- and adds :TrustChat, :TrustChatStop, :TrustChatNew, :TrustAsk, :TrustAction, :TrustStatus
-- and :checkhealth trust. See :help trust (doc/trust.txt) and docs/editors.md.

local compat = require("trust.compat")

local M = {}

M.defaults = {
  -- Command that starts the server (a list). nil: found with M.find_cmd().
  cmd = nil,
  -- Server settings: the same nested keys as the config file (docs/configuration.md). Sent as
  -- initializationOptions and as the `trust` section of workspace/configuration.
  settings = {},
  -- Files whose presence marks the workspace root (searched upwards from the buffer).
  root_markers = { ".trust", ".git", "pyproject.toml", "package.json", "Cargo.toml", "go.mod" },
  -- Filetypes to leave alone (buffers without a file are always left alone).
  exclude_filetypes = { "gitcommit", "gitrebase", "help" },
  ghost_text = {
    enabled = true,
    -- Wait this long after the last keystroke before asking (the server debounces as well).
    idle_ms = 75,
    accept_key = "<M-l>",
    dismiss_key = "<C-]>",
    -- Use vim.lsp.inline_completion when the running Neovim has it (0.12+).
    native = true,
    hl_group = "Comment",
  },
  chat = {
    -- "vertical" (a split on the right) or "horizontal" (below).
    split = "vertical",
    size = 70,
  },
  on_attach = nil,
}

M.config = vim.deepcopy(M.defaults)

-- client ids by workspace root
M.clients = {}
-- the last buffer with a file that a Trust client is attached to (chat context)
M.last_file_buf = nil

local augroup_name = "trust"

--- The default command: `trust-lsp` on PATH, else the workspace's .venv.
function M.find_cmd(root)
  if vim.fn.executable("trust-lsp") == 1 then
    return { vim.fn.exepath("trust-lsp") }
  end
  for _, dir in ipairs({ root, compat.uv.cwd() }) do
    if dir then
      local candidate = dir .. "/.venv/bin/trust-lsp"
      if vim.fn.executable(candidate) == 1 then
        return { candidate }
      end
    end
  end
  return nil
end

--- The workspace root of a buffer: the nearest directory with a root marker, else its folder.
function M.root_dir(bufnr)
  local start = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ":p:h")
  local dir = start
  while dir and dir ~= "" do
    for _, marker in ipairs(M.config.root_markers) do
      if compat.uv.fs_stat(dir .. "/" .. marker) then
        return dir
      end
    end
    local parent = vim.fn.fnamemodify(dir, ":h")
    if parent == dir then
      break
    end
    dir = parent
  end
  return start
end

local function wants(bufnr)
  if not vim.api.nvim_buf_is_valid(bufnr) then
    return false
  end
  if vim.bo[bufnr].buftype ~= "" or vim.api.nvim_buf_get_name(bufnr) == "" then
    return false
  end
  return not vim.tbl_contains(M.config.exclude_filetypes, vim.bo[bufnr].filetype)
end

--- Client capabilities: Neovim's own, plus inline completion (LSP 3.18), which Neovim
--- before 0.12 does not announce.
local function capabilities()
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.textDocument = caps.textDocument or {}
  caps.textDocument.inlineCompletion = caps.textDocument.inlineCompletion or { dynamicRegistration = false }
  caps.window = caps.window or {}
  caps.window.workDoneProgress = true
  return caps
end

local function client_config(root)
  local cmd = M.config.cmd or M.find_cmd(root)
  if not cmd then
    return nil, "trust-lsp not found: put it on PATH, in .venv/bin, or pass cmd to setup()"
  end
  if type(cmd) == "string" then
    cmd = { cmd }
  end
  local settings = vim.deepcopy(M.config.settings or {})
  return {
    name = "trust",
    cmd = cmd,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    init_options = settings,
    -- Answers workspace/configuration (section "trust") through Neovim's default handler.
    settings = { trust = settings },
    capabilities = capabilities(),
    handlers = {
      ["$/progress"] = function(...)
        return require("trust.chat").progress_handler(...)
      end,
    },
    -- Client-side commands: the "Explain" and "Custom prompt" code actions run trust.ask, whose
    -- streamed answer belongs in the chat buffer.
    commands = {
      ["trust.ask"] = function(command, ctx)
        require("trust.chat").run_command(command, ctx)
      end,
      ["trust.chat"] = function(command, ctx)
        require("trust.chat").run_command(command, ctx)
      end,
    },
    on_attach = function(client, bufnr)
      require("trust.ghost").attach(client, bufnr)
      if M.config.on_attach then
        M.config.on_attach(client, bufnr)
      end
    end,
    on_exit = function()
      for r, id in pairs(M.clients) do
        local c = vim.lsp.get_client_by_id(id)
        if not c or compat.is_stopped(c) then
          M.clients[r] = nil
        end
      end
    end,
  }
end

--- Start (or reuse) the client for a buffer and attach it. Returns the client id.
function M.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if not wants(bufnr) then
    return nil
  end
  local root = M.root_dir(bufnr)
  local config, err = client_config(root)
  if not config then
    vim.notify_once("Trust: " .. err, vim.log.levels.WARN)
    return nil
  end
  local id
  if vim.lsp.start then
    -- 0.8+: reuses a running client with the same name and root.
    id = vim.lsp.start(config, { bufnr = bufnr })
  else
    id = M.clients[root]
    local client = id and vim.lsp.get_client_by_id(id)
    if not client or compat.is_stopped(client) then
      id = compat.start_client(config)
    end
    if id then
      vim.lsp.buf_attach_client(bufnr, id)
    end
  end
  if id then
    M.clients[root] = id
    M.last_file_buf = bufnr
  end
  return id
end

--- A running Trust client: the one attached to `bufnr` (default: current or last file
--- buffer), else any. Starts one for the last file buffer if none runs.
function M.get_client(bufnr)
  local candidates = { bufnr, vim.api.nvim_get_current_buf(), M.last_file_buf }
  for _, b in ipairs(candidates) do
    if b and vim.api.nvim_buf_is_valid(b) then
      for _, client in pairs(compat.buf_clients(b)) do
        if client.name == "trust" and not compat.is_stopped(client) then
          return client, b
        end
      end
    end
  end
  for _, id in pairs(M.clients) do
    local client = vim.lsp.get_client_by_id(id)
    if client and not compat.is_stopped(client) then
      return client, M.last_file_buf
    end
  end
  return nil
end

--- Wait (up to timeout_ms) for a Trust client to finish initializing.
function M.wait_for_client(timeout_ms)
  local client
  vim.wait(timeout_ms or 10000, function()
    client = M.get_client()
    return client ~= nil and client.initialized ~= false and client.server_capabilities ~= nil
  end, 20)
  return client
end

--- Send `workspace/executeCommand`; `callback(err, result)` runs on the main loop.
function M.execute(command, arguments, callback, opts)
  opts = opts or {}
  local client, bufnr = M.get_client(opts.bufnr)
  if not client then
    callback({ message = "no Trust client is running (open a file first)" }, nil)
    return nil
  end
  local params = { command = command, arguments = arguments or {} }
  if opts.token then
    params.workDoneToken = opts.token
  end
  local ok, id = compat.request(client, "workspace/executeCommand", params, function(err, result)
    callback(err, result)
  end, bufnr)
  if not ok then
    callback({ message = "the Trust client has stopped" }, nil)
    return nil
  end
  return client, id
end

--- Change server settings at run time (the server's runtime layer).
function M.set_settings(settings)
  M.config.settings = vim.tbl_deep_extend("force", M.config.settings or {}, settings)
  for _, id in pairs(M.clients) do
    local client = vim.lsp.get_client_by_id(id)
    if client then
      client.config.settings = { trust = vim.deepcopy(M.config.settings) }
      compat.notify(client, "workspace/didChangeConfiguration", { settings = client.config.settings })
    end
  end
end

--- :TrustAction — "Ask Trust" code actions for a range (0.7 needs range_code_action).
function M.code_action(line1, line2)
  local bufnr = vim.api.nvim_get_current_buf()
  local last = vim.api.nvim_buf_get_lines(bufnr, line2 - 1, line2, false)[1] or ""
  local start_pos, end_pos = { line1, 0 }, { line2, math.max(#last - 1, 0) }
  local vstart, vend = vim.api.nvim_buf_get_mark(bufnr, "<"), vim.api.nvim_buf_get_mark(bufnr, ">")
  if vstart[1] == line1 and vend[1] == line2 and vim.fn.visualmode() == "v" then
    start_pos, end_pos = vstart, vend
  end
  if compat.has("0.9") then
    -- `range` end is exclusive here, the mark is inclusive.
    vim.lsp.buf.code_action({ range = { start = start_pos, ["end"] = { end_pos[1], end_pos[2] + 1 } } })
  else
    vim.lsp.buf.range_code_action(nil, start_pos, end_pos)
  end
end

local function status_lines(status)
  local lines = { "# Trust status", "" }
  if type(status) ~= "table" then
    return { "Trust: no status (" .. vim.inspect(status) .. ")" }
  end
  if status.version then
    table.insert(lines, "trust-lsp " .. tostring(status.version))
  end
  local privacy = type(status.privacy) == "table" and status.privacy.mode or status.privacy
  if privacy then
    table.insert(lines, "privacy: " .. tostring(privacy))
  end
  if type(status.acceptanceRate) == "number" then
    table.insert(lines, string.format("completions accepted: %d%%", math.floor(status.acceptanceRate * 100 + 0.5)))
  end
  table.insert(lines, "")
  local order = type(status.fallback) == "table" and status.fallback.order or nil
  for _, name in ipairs(M.backend_order(status)) do
    local info = status.backends[name]
    local healthy, detail = M.backend_health(info)
    local mark = info.allowed == false and "–" or (healthy and "✓" or "✗")
    local models = {}
    if type(info.models) == "table" then
      for k, v in pairs(info.models) do
        if type(v) == "string" and v ~= "" then
          table.insert(models, type(k) == "string" and (k .. ": " .. v) or v)
        end
      end
      table.sort(models)
    end
    local line = string.format("%s %s", mark, name)
    if #models > 0 then
      line = line .. " (" .. table.concat(models, ", ") .. ")"
    end
    if detail and detail ~= "" then
      line = line .. " — " .. detail
    end
    if type(order) == "table" and not vim.tbl_contains(order, name) then
      line = line .. " [not in fallback.order]"
    end
    table.insert(lines, "- " .. line)
  end
  return lines
end

--- Backend names in fallback order (when the status names it), then the rest.
function M.backend_order(status)
  local order, seen = {}, {}
  local backends = type(status) == "table" and type(status.backends) == "table" and status.backends or {}
  local fallback = type(status.fallback) == "table" and status.fallback.order or status.order
  for _, name in ipairs(type(fallback) == "table" and fallback or {}) do
    if backends[name] and not seen[name] then
      table.insert(order, name)
      seen[name] = true
    end
  end
  local rest = {}
  for name in pairs(backends) do
    if not seen[name] then
      table.insert(rest, name)
    end
  end
  table.sort(rest)
  vim.list_extend(order, rest)
  return order
end

--- (healthy, detail) of one backend entry of trust.status.
function M.backend_health(info)
  if type(info) ~= "table" then
    return false, nil
  end
  if type(info.healthy) == "boolean" then
    return info.healthy, info.detail
  end
  if type(info.health) == "table" then
    return info.health.ok == true or info.health.healthy == true, info.health.detail or info.detail
  end
  if type(info.health) == "boolean" then
    return info.health, info.detail
  end
  return false, info.detail
end

--- :TrustStatus — backends' health, models, privacy mode, acceptance rate.
function M.show_status()
  M.execute("trust.status", {}, function(err, result)
    if err then
      vim.notify("Trust: status failed: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    M.last_status = result
    vim.lsp.util.open_floating_preview(status_lines(result), "markdown", { border = "rounded" })
  end)
end
M._status_lines = status_lines

local function create_commands()
  local cmd = vim.api.nvim_create_user_command
  cmd("TrustChat", function(o)
    require("trust.chat").chat(o.args)
  end, { nargs = "*", desc = "Trust: open the chat (and ask a question)" })
  cmd("TrustChatStop", function()
    require("trust.chat").stop()
  end, { desc = "Trust: stop the answer being generated" })
  cmd("TrustChatNew", function()
    require("trust.chat").new_session()
  end, { desc = "Trust: start a new chat session" })
  cmd("TrustAsk", function(o)
    require("trust.chat").ask_range(o.args, o.line1, o.line2)
  end, { nargs = "*", range = true, desc = "Trust: ask about the selected lines" })
  cmd("TrustAction", function(o)
    M.code_action(o.line1, o.line2)
  end, { range = true, desc = "Trust: code actions for the selected lines" })
  cmd("TrustStatus", function()
    M.show_status()
  end, { desc = "Trust: backends' health and models" })
end

--- Configure the plugin and start Trust for every buffer with a file.
function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts or {})
  if opts and opts.settings then
    -- Lists (e.g. fallback.order) replace, never merge index-wise.
    M.config.settings = vim.deepcopy(opts.settings)
  end
  create_commands()
  require("trust.ghost").setup(M.config.ghost_text)
  local group = vim.api.nvim_create_augroup(augroup_name, { clear = true })
  vim.api.nvim_create_autocmd({ "BufReadPost", "BufNewFile", "BufEnter" }, {
    group = group,
    callback = function(args)
      if wants(args.buf) then
        local attached = false
        for _, client in pairs(compat.buf_clients(args.buf)) do
          attached = attached or client.name == "trust"
        end
        if not attached then
          M.attach(args.buf)
        else
          M.last_file_buf = args.buf
        end
      end
    end,
  })
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and wants(bufnr) then
      M.attach(bufnr)
    end
  end
end

return M
