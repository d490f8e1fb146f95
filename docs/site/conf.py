# Sphinx configuration of the collection's docs site (built by tools/docs_site.sh, `make docs`).
# The plugin and role pages come from antsibull-docs, the guides from docs/*.md (myst-parser).

project = 'auditops.deckhouse'
copyright = 'auditops.deckhouse contributors'
title = 'auditops.deckhouse'
html_short_title = 'auditops.deckhouse'

extensions = ['sphinx_antsibull_ext', 'myst_parser']
source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
myst_heading_anchors = 4  # the guides link to each other's sections (#where-the-kubeconfig-comes-from)

pygments_style = 'ansible'
highlight_language = 'YAML+Jinja'
html_theme = 'sphinx_ansible_theme'
html_theme_options = {'collapse_navigation': False}
html_show_sphinx = False
html_use_modindex = False
html_use_index = False
html_copy_source = False
default_role = 'any'
nitpicky = True
# Examples that mix Jinja into YAML flow style confuse the highlighter; Sphinx then shows them unhighlighted.
suppress_warnings = ['misc.highlighting_failure']

# No intersphinx: the build runs offline. The few labels of the Ansible docs that the generated pages use
# resolve to their pages on docs.ansible.com; any other missing reference stays a warning, and warnings fail.
ANSIBLE_DOCS = 'https://docs.ansible.com/projects/ansible/devel/'
EXTERNAL_LABELS = {
    'common_return_values': 'reference_appendices/common_return_values.html',
    'list_of_collections': 'collections/index.html',
    'ansible_configuration_settings': 'reference_appendices/config.html',
}


def _external(label):
    if label in EXTERNAL_LABELS:
        return ANSIBLE_DOCS + EXTERNAL_LABELS[label]
    parts = label.split('.')
    if len(parts) == 4 and parts[0] == 'ansible_collections' and parts[1:3] != ['auditops', 'deckhouse']:
        return ANSIBLE_DOCS + 'collections/%s/%s/%s.html' % tuple(parts[1:])
    return None


def _resolve_external(app, env, node, contnode):
    from docutils import nodes
    url = _external(node.get('reftarget', ''))
    if url is None:
        return None
    reference = nodes.reference('', '', internal=False, refuri=url)
    reference.append(contnode)
    return reference


def setup(app):
    app.connect('missing-reference', _resolve_external)
