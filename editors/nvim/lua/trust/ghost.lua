-- Ghost text: inline completions (textDocument/inlineCompletion) shown as virtual text.
--
-- After typing in insert mode and a short idle time, the first item is shown at the cursor
-- (further lines as virt_lines). The accept key inserts it and reports the acceptance through
-- the item's command; moving the cursor, leaving insert mode or the dismiss key hides it.
-- On Neovim with vim.lsp.inline_completion (0.12+) the native implementation is used instead.

local compat = require("trust.compat")

local M = {}

M.ns = vim.api.nvim_create_namespace("trust_ghost_text")
M.config = {
  enabled = true,
  idle_ms = 75,
  accept_key = "<M-l>",
  dismiss_key = "<C-]>",
  native = true,
  hl_group = "Comment",
}

-- Per buffer: { timer, request = {client, id}, item = {...}, extmark }
local buffers = {}

local AUTOMATIC = 2 -- InlineCompletionTriggerKind.Automatic

function M.setup(config)
  M.config = vim.tbl_extend("force", M.config, config or {})
end

--- Does this Neovim have the native inline completion (and should it be used)?
function M.native_available()
  return M.config.native
    and vim.lsp.inline_completion ~= nil
    and type(vim.lsp.inline_completion.enable) == "function"
    and type(vim.lsp.inline_completion.get) == "function"
end

local function in_insert_mode()
  return vim.api.nvim_get_mode().mode:sub(1, 1) == "i"
end

local function trust_client(bufnr)
  for _, client in pairs(compat.buf_clients(bufnr)) do
    if client.name == "trust" and not compat.is_stopped(client) then
      return client
    end
  end
  return nil
end

--- Remove the ghost text of a buffer (the pending request stays).
function M.clear(bufnr)
  local state = buffers[bufnr]
  if not state then
    return
  end
  if state.item and vim.api.nvim_buf_is_valid(bufnr) then
    vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  end
  state.item = nil
end

local function cancel(bufnr)
  local state = buffers[bufnr]
  if state and state.request then
    local client, id = state.request.client, state.request.id
    state.request = nil
    if not compat.is_stopped(client) then
      compat.cancel_request(client, id)
    end
  end
  if state and state.timer then
    state.timer:stop()
  end
end

--- The ghost text now shown in a buffer, or nil: { text, row, col } (0-based row, byte col).
function M.current(bufnr)
  local state = buffers[bufnr or vim.api.nvim_get_current_buf()]
  if not state or not state.item then
    return nil
  end
  return { text = state.item.display, insert_text = state.item.text, row = state.item.row, col = state.item.col }
end

local function virt_text_pos(line, col)
  if compat.has("0.10") then
    return "inline"
  end
  -- Older versions cannot insert virtual text inside a line: overlay at the end of the line
  -- (nothing hidden), or show it after the line's end when the cursor is mid-line.
  return col >= #line and "overlay" or "eol"
end

local function show(bufnr, client, item, row, col)
  local text = item.insertText
  if type(text) == "table" then
    text = text.value -- a StringValue snippet: shown and inserted as plain text
  end
  if type(text) ~= "string" or text == "" then
    return
  end
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
  local start_row, start_col, end_row, end_col = row, col, row, col
  if type(item.range) == "table" then
    local encoding = client.offset_encoding or "utf-16"
    start_row = item.range.start.line
    start_col = compat.byte_col(bufnr, item.range.start, encoding)
    end_row = item.range["end"].line
    end_col = compat.byte_col(bufnr, item.range["end"], encoding)
  end
  -- The range may start before the cursor (text already typed): show only the rest.
  local display = text
  if start_row == row and start_col < col then
    local typed = line:sub(start_col + 1, col)
    if text:sub(1, #typed) ~= typed then
      return
    end
    display = text:sub(#typed + 1)
  elseif start_row ~= row or start_col > col then
    return
  end
  if display == "" then
    return
  end
  local lines = vim.split(display, "\n", { plain = true })
  local hl = M.config.hl_group
  local opts = {
    virt_text = { { lines[1], hl } },
    virt_text_pos = virt_text_pos(line, col),
    hl_mode = "combine",
  }
  if #lines > 1 then
    local virt_lines = {}
    for i = 2, #lines do
      table.insert(virt_lines, { { lines[i], hl } })
    end
    opts.virt_lines = virt_lines
  end
  vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  local extmark = vim.api.nvim_buf_set_extmark(bufnr, M.ns, row, math.min(col, #line), opts)
  buffers[bufnr].item = {
    text = text,
    display = display,
    row = row,
    col = col,
    start_row = start_row,
    start_col = start_col,
    end_row = end_row,
    end_col = end_col,
    command = item.command,
    client_id = client.id,
    extmark = extmark,
  }
  pcall(vim.api.nvim_exec_autocmds, "User", { pattern = "TrustGhostText", modeline = false })
end

--- Ask the server for an inline completion at the cursor (in insert mode).
function M.request(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local state = buffers[bufnr]
  if not state or not in_insert_mode() or vim.api.nvim_get_current_buf() ~= bufnr then
    return
  end
  local client = trust_client(bufnr)
  if not client then
    return
  end
  if not client.initialized then
    -- Typing right after opening a file: ask again once the server has initialized.
    state.waits = (state.waits or 0) + 1
    if state.waits <= 100 then
      state.timer:start(100, 0, vim.schedule_wrap(function()
        M.request(bufnr)
      end))
    end
    return
  end
  state.waits = 0
  cancel(bufnr)
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding or "utf-16")
  params.context = { triggerKind = AUTOMATIC }
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local cursor = vim.api.nvim_win_get_cursor(0)
  local row, col = cursor[1] - 1, cursor[2]
  local request_id
  local ok, id = compat.request(client, "textDocument/inlineCompletion", params, function(err, result)
    if state.request and state.request.id == request_id then
      state.request = nil
    end
    if err or type(result) ~= "table" then
      return
    end
    -- Stale: the text or the cursor changed, or insert mode ended, while the server worked.
    if not vim.api.nvim_buf_is_valid(bufnr) or vim.api.nvim_buf_get_changedtick(bufnr) ~= tick then
      return
    end
    if vim.api.nvim_get_current_buf() ~= bufnr or not in_insert_mode() then
      return
    end
    local now = vim.api.nvim_win_get_cursor(0)
    if now[1] ~= cursor[1] or now[2] ~= cursor[2] then
      return
    end
    local items = result.items or result
    if type(items) == "table" and items[1] then
      show(bufnr, client, items[1], row, col)
    end
  end, bufnr)
  if ok then
    request_id = id
    state.request = { client = client, id = id }
  end
end

local function schedule(bufnr)
  local state = buffers[bufnr]
  if not state or not M.config.enabled then
    return
  end
  M.clear(bufnr)
  cancel(bufnr)
  state.timer:start(
    M.config.idle_ms,
    0,
    vim.schedule_wrap(function()
      M.request(bufnr)
    end)
  )
end

--- Insert the ghost text; returns false when none is shown.
function M.accept(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local state = buffers[bufnr]
  local item = state and state.item
  if not item then
    return false
  end
  M.clear(bufnr)
  local lines = vim.split(item.text, "\n", { plain = true })
  vim.api.nvim_buf_set_text(bufnr, item.start_row, item.start_col, item.end_row, item.end_col, lines)
  local last_row = item.start_row + #lines - 1
  local last_col = (#lines == 1 and item.start_col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { last_row + 1, last_col })
  if type(item.command) == "table" and item.command.command then
    local client = vim.lsp.get_client_by_id(item.client_id)
    if client and not compat.is_stopped(client) then
      compat.request(client, "workspace/executeCommand", {
        command = item.command.command,
        arguments = item.command.arguments,
      }, function() end, bufnr)
    end
  end
  pcall(vim.api.nvim_exec_autocmds, "User", { pattern = "TrustGhostTextAccepted", modeline = false })
  return true
end

--- Hide the ghost text and forget the pending request.
function M.dismiss(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  cancel(bufnr)
  M.clear(bufnr)
end

local function feed(key)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(key, true, false, true), "n", false)
end

local function attach_native(bufnr)
  vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
  local key = M.config.accept_key
  if key and key ~= "" then
    vim.keymap.set("i", key, function()
      if not vim.lsp.inline_completion.get({ bufnr = bufnr }) then
        feed(key)
      end
    end, { buffer = bufnr, desc = "Trust: accept the inline completion" })
  end
end

--- Set up ghost text for a buffer the Trust client just attached to.
function M.attach(client, bufnr)
  if buffers[bufnr] or not M.config.enabled then
    return
  end
  if M.native_available() then
    buffers[bufnr] = { native = true }
    attach_native(bufnr)
    return
  end
  local state = { timer = compat.uv.new_timer() }
  buffers[bufnr] = state
  local group = vim.api.nvim_create_augroup("trust_ghost_" .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd({ "TextChangedI", "TextChangedP" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      schedule(bufnr)
    end,
  })
  vim.api.nvim_create_autocmd("CursorMovedI", {
    group = group,
    buffer = bufnr,
    callback = function()
      local item = state.item
      if item then
        local cursor = vim.api.nvim_win_get_cursor(0)
        if cursor[1] - 1 ~= item.row or cursor[2] ~= item.col then
          M.dismiss(bufnr)
        end
      end
    end,
  })
  vim.api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      M.dismiss(bufnr)
    end,
  })
  vim.api.nvim_create_autocmd({ "BufUnload" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      M.detach(bufnr)
    end,
  })
  local accept = M.config.accept_key
  if accept and accept ~= "" then
    vim.keymap.set("i", accept, function()
      if not M.accept(bufnr) then
        feed(accept)
      end
    end, { buffer = bufnr, desc = "Trust: accept the ghost text" })
  end
  local dismiss = M.config.dismiss_key
  if dismiss and dismiss ~= "" then
    vim.keymap.set("i", dismiss, function()
      local shown = state.item ~= nil
      M.dismiss(bufnr)
      if not shown then
        feed(dismiss)
      end
    end, { buffer = bufnr, desc = "Trust: dismiss the ghost text" })
  end
  local _ = client
end

function M.detach(bufnr)
  local state = buffers[bufnr]
  if not state then
    return
  end
  if not state.native then
    M.dismiss(bufnr)
    if state.timer then
      state.timer:stop()
      state.timer:close()
    end
    pcall(vim.api.nvim_del_augroup_by_name, "trust_ghost_" .. bufnr)
  end
  buffers[bufnr] = nil
end

return M
