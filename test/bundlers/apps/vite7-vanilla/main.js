// All an app needs: the import (the model folder is in public/).
import 'bagnet-elements/register';
