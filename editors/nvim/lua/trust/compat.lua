-- Small wrappers over Neovim APIs that changed between 0.7 and today, so the rest of the
-- plugin reads the same on every version. Newer APIs are used when they exist.

local M = {}

--- Is the running Neovim at least this version ("0.8", "0.10"…)?
function M.has(version)
  return vim.fn.has("nvim-" .. version) == 1
end

-- Since 0.11 client methods are called with `:`; the `.` form warns there and is gone later.
local colon = M.has("0.11")

function M.request(client, method, params, handler, bufnr)
  if colon then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

function M.request_sync(client, method, params, timeout_ms, bufnr)
  if colon then
    return client:request_sync(method, params, timeout_ms, bufnr)
  end
  return client.request_sync(method, params, timeout_ms, bufnr)
end

function M.notify(client, method, params)
  if colon then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

function M.cancel_request(client, id)
  if colon then
    return client:cancel_request(id)
  end
  return client.cancel_request(id)
end

function M.stop(client, force)
  if colon then
    return client:stop(force)
  end
  return client.stop(force)
end

function M.is_stopped(client)
  if colon then
    return client:is_stopped()
  end
  return client.is_stopped()
end

--- libuv bindings: vim.uv since 0.10, vim.loop before.
M.uv = vim.uv or vim.loop

--- The LSP clients attached to a buffer (vim.lsp.get_clients since 0.10).
function M.buf_clients(bufnr)
  if vim.lsp.get_clients then
    return vim.lsp.get_clients({ bufnr = bufnr })
  end
  return vim.lsp.buf_get_clients(bufnr)
end

--- Start a client without attaching it to a buffer (vim.lsp.start_client is deprecated in 0.11).
function M.start_client(config)
  if M.has("0.11") then
    return vim.lsp.start(config, { attach = false })
  end
  return vim.lsp.start_client(config)
end

--- The server's capabilities table (0.7 keeps the raw table in `server_capabilities` too).
function M.server_capabilities(client)
  return client.server_capabilities or {}
end

--- Byte column in `bufnr` of an LSP position in the client's offset encoding.
function M.byte_col(bufnr, position, encoding)
  local ok, col = pcall(vim.lsp.util._get_line_byte_from_position, bufnr, position, encoding)
  if ok and col then
    return col
  end
  local line = vim.api.nvim_buf_get_lines(bufnr, position.line, position.line + 1, false)[1] or ""
  return math.min(position.character, #line)
end

--- LSP character offset (in `encoding`) of a byte column of a buffer line.
function M.char_col(bufnr, row, col, encoding)
  return vim.lsp.util.character_offset(bufnr, row, col, encoding)
end

--- `:checkhealth` reporting: vim.health.start/ok/… (0.9+), report_* (0.8), require("health") (0.7).
function M.health()
  local h = vim.health or require("health")
  return {
    start = h.start or h.report_start,
    ok = h.ok or h.report_ok,
    warn = h.warn or h.report_warn,
    error = h.error or h.report_error,
    info = h.info or h.report_info,
  }
end

return M
