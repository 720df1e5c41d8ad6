-- Test harness for the Neovim plugin's end-to-end tests.
--
-- The test script runs in a parent `nvim --headless -u NONE`; it drives a child
-- `nvim --embed --headless` over RPC, the way a user's keystrokes reach Neovim: `input()`
-- queues keys that the child's main loop processes (insert mode, autocommands, timers and
-- LSP callbacks all run as they do for a person typing). The child loads the plugin from
-- editors/nvim and talks to the real trust-lsp.
--
-- Environment (set by tests/editors/test_nvim.py):
--   TRUST_TEST_REPO      repository root
--   TRUST_TEST_LSP       the trust-lsp executable
--   TRUST_TEST_OLLAMA    the Ollama test server's URL
--   TRUST_TEST_WORKDIR   a scratch directory for files
--   TRUST_TEST_DATA      JSON with test-specific data (scripted replies…)
-- Exit status: 0 when every check passed, 1 otherwise (via :cquit).

local H = {}

H.repo = assert(os.getenv("TRUST_TEST_REPO"), "TRUST_TEST_REPO is not set")
H.lsp = assert(os.getenv("TRUST_TEST_LSP"), "TRUST_TEST_LSP is not set")
H.ollama = assert(os.getenv("TRUST_TEST_OLLAMA"), "TRUST_TEST_OLLAMA is not set")
H.workdir = assert(os.getenv("TRUST_TEST_WORKDIR"), "TRUST_TEST_WORKDIR is not set")
H.data = vim.fn.json_decode(os.getenv("TRUST_TEST_DATA") or "{}")
H.failures = 0
H.checks = 0

function H.log(fmt, ...)
  io.stdout:write(string.format(fmt, ...) .. "\n")
  io.stdout:flush()
end

local function finish()
  if H.child then
    pcall(vim.fn.jobstop, H.child)
  end
  H.log("%d passed, %d failed", H.checks - H.failures, H.failures)
  if H.failures > 0 then
    vim.cmd("cquit 1")
  else
    vim.cmd("qall!")
  end
end

--- Record a failed check (the test goes on) or raise (when `fatal`).
function H.fail(message, fatal)
  if fatal then
    H.checks = H.checks + 1
  end
  H.failures = H.failures + 1
  H.log("FAIL: %s", message)
  if fatal then
    error("fatal: " .. message, 0)
  end
end

function H.ok(cond, message)
  H.checks = H.checks + 1
  if cond then
    H.log("ok: %s", message)
  else
    H.fail(message)
  end
  return cond
end

function H.eq(actual, expected, message)
  H.checks = H.checks + 1
  if vim.deep_equal(actual, expected) then
    H.log("ok: %s", message)
    return true
  end
  H.fail(string.format("%s\n  expected: %s\n  actual:   %s", message, vim.inspect(expected), vim.inspect(actual)))
  return false
end

--- Start the child Neovim with the plugin on its runtimepath.
function H.start_child()
  local nvim = vim.v.progpath
  H.child = vim.fn.jobstart({
    nvim, "--embed", "--headless", "-u", "NONE", "-i", "NONE", "-n",
    "--cmd", "set rtp^=" .. vim.fn.fnameescape(H.repo .. "/editors/nvim"),
    "--cmd", "set noswapfile shortmess+=I",
  }, { rpc = true, cwd = H.workdir })
  assert(H.child > 0, "could not start the child nvim")
  -- The plugin's own settings for the tests: the Ollama test server and nothing else.
  H.lua([[
    local lsp, url, native = ...
    require("trust").setup({
      cmd = { lsp },
      settings = {
        backends = { ollama = { url = url } },
        fallback = { order = { "ollama" } },
        server = { preheat = false },
        completion = { debounce_ms = 0 },
      },
      -- The plugin's own ghost text on every version, unless a test asks for Neovim's native
      -- inline completion (where it exists).
      ghost_text = { native = native },
    })
  ]], H.lsp, H.ollama, H.data.native == true)
  return H.child
end

--- Run Lua in the child (varargs become `...`), return its result.
function H.lua(code, ...)
  return vim.rpcrequest(H.child, "nvim_exec_lua", code, { ... })
end

--- Queue keys in the child, as typed (`<M-l>`, `<Esc>`… notation).
function H.input(keys)
  return vim.rpcrequest(H.child, "nvim_input", keys)
end

function H.cmd(command)
  return vim.rpcrequest(H.child, "nvim_command", command)
end

--- Wait until `predicate()` is truthy (polling the child), or fail with `message`.
function H.wait(predicate, message, timeout_ms)
  local value
  local ok = vim.wait(timeout_ms or 20000, function()
    local good, result = pcall(predicate)
    value = good and result or nil
    return value ~= nil and value ~= false and value ~= vim.NIL
  end, 25)
  if not ok then
    H.fail("timed out: " .. message, true)
  end
  return value
end

--- Edit a file in the child and wait for the Trust client to attach and initialize
--- (`opts.wait = false`: return at once).
function H.edit(name, lines, opts)
  local path = H.workdir .. "/" .. name
  vim.fn.writefile(lines, path)
  H.cmd("edit " .. vim.fn.fnameescape(path))
  if opts and opts.wait == false then
    return path
  end
  H.wait(function()
    return H.lua([[
      for _, c in pairs(require("trust.compat").buf_clients(0)) do
        if c.name == "trust" and c.initialized and c.server_capabilities then return true end
      end
      return false
    ]])
  end, "the Trust client attaches to " .. name, 30000)
  return path
end

function H.lines(buf)
  return H.lua("return vim.api.nvim_buf_get_lines(...,0, -1, false)", buf or 0)
end

function H.mode()
  return H.lua("return vim.api.nvim_get_mode().mode")
end

--- Run the test function, report, and exit with the right status.
--- Stop here: the scenario does not apply to this Neovim (pytest reports it as skipped).
function H.skip(reason)
  H.log("SKIP: %s", reason)
  vim.cmd("qall!")
end

function H.run(name, fn)
  H.log("== %s (Neovim %s)", name, tostring(vim.version().major) .. "." .. tostring(vim.version().minor))
  local ok, err = xpcall(fn, debug.traceback)
  if not ok then
    if not tostring(err):find("^fatal: ") then
      H.checks = H.checks + 1
      H.failures = H.failures + 1
    end
    H.log("ERROR: %s", err)
    if H.child then
      local log_ok, log = pcall(H.lua, "return vim.lsp.get_log_path()")
      if log_ok then
        H.log("(client log: %s)", log)
      end
    end
  end
  finish()
end

return H
