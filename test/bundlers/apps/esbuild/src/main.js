import 'bagnet-elements/register';
