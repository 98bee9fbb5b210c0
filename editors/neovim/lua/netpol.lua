-- The netpol language server for Neovim 0.7 to 0.10, with the plain `vim.lsp.start_client`
-- API (no plugin needed):
--
--   require('netpol').setup({ cmd = { 'netpol', 'lsp' } })
--
-- The code lenses of `test` blocks are refreshed on InsertLeave and BufWritePost
-- (`codelens = false` to leave that to your own config).
--
-- One server per root (the nearest folder above the file holding `.git`, else the file's
-- folder), shared by every .netpol buffer under it.
local M = {}

local clients = {}

local function root_of(file)
  local dir = vim.fn.fnamemodify(file, ':p:h')
  local found = vim.fn.finddir('.git', dir .. ';')
  if found ~= '' then
    return vim.fn.fnamemodify(found, ':p:h:h')
  end
  return dir
end

function M.setup(opts)
  opts = opts or {}
  local cmd = opts.cmd or { 'netpol', 'lsp' }
  vim.api.nvim_create_autocmd('FileType', {
    pattern = 'netpol',
    callback = function(args)
      local root = root_of(vim.api.nvim_buf_get_name(args.buf))
      local id = clients[root]
      if id == nil or vim.lsp.get_client_by_id(id) == nil then
        id = vim.lsp.start_client({
          name = 'netpol',
          cmd = cmd,
          root_dir = root,
          workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
          on_attach = opts.on_attach,
        })
        clients[root] = id
      end
      if id ~= nil then
        vim.lsp.buf_attach_client(args.buf, id)
        -- The `test` blocks' code lenses. Defined after attaching, so that on a write they
        -- are asked for after `didSave` (whose test run the server lets them wait for):
        -- Neovim 0.7 cannot be asked by the server to refresh them. Not on BufEnter: 0.7
        -- would ask before the server is up, and then never again.
        if opts.codelens ~= false then
          vim.api.nvim_create_autocmd({ 'InsertLeave', 'BufWritePost' }, {
            buffer = args.buf,
            callback = function()
              vim.lsp.codelens.refresh()
            end,
          })
        end
      end
    end,
  })
end

return M
